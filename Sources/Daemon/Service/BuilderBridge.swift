/// The Builder module's names as the daemon's service uses them. Builder and WorkerProtocol
/// both define `BuildResult`, `MissingPaths` and friends (one the builder's view, one the
/// wire's); this file imports only Builder, so the aliases below pick the builder's, and
/// `LocalStoreService+Build.swift` (which imports only WorkerProtocol) maps one onto the other.
import Builder
import LinuxSystem

typealias DerivationBuilder = Builder
typealias BuilderResult = BuildResult
typealias BuilderTarget = BuildTarget
typealias BuilderMode = BuildMode
typealias BuilderSettings = BuildSettings
typealias BuilderEvent = BuildEvent
typealias BuilderLogCompression = LogCompression

extension DaemonConfiguration {
    /// The build settings of this daemon's command line (guix-daemon.md §6.1); each session
    /// starts from them and applies its client's SetOptions.
    public var buildSettings: BuildSettings {
        var s = BuildSettings()
        s.temporaryDirectory = temporaryDirectory
        s.buildUsersGroup = buildUsersGroup
        s.buildCores = buildCores
        s.maxBuildJobs = maxBuildJobs
        s.buildTimeout = buildTimeout
        s.maxSilentTime = maxSilentTime
        s.maxLogSize = maxLogSize
        s.buildRepeat = buildRepeat
        s.extraChrootDirectories = extraChrootDirectories
        s.useChroot = useChroot
        s.cacheFailures = cacheFailures
        s.keepLog = keepLog
        s.logCompression = BuilderLogCompression(rawValue: logCompression.rawValue) ?? .gzip
        s.impersonateLinux26 = impersonateLinux26
        s.system = system
        s.deduplicate = autoOptimiseStore
        s.daemonEnvironment = ProcessEnvironment.current()
        return s
    }
}

extension DaemonServer {
    /// A worker process whose client is gone: chroots and build trees still queued for
    /// deletion go before it exits (the client is not waiting); spare ones are handed on to
    /// the next worker (SpareDirectories).
    func finishBuilds() { Builder.waitForCleanup(handOnSpares: true) }

    /// A spare waiting for its client makes its first build's directories ahead (or claims
    /// those an earlier worker handed on).
    func prepareBuilds(storeDirectory: String, stateDirectory: String, logDirectory: String) {
        Builder.prepareSpares(storeDirectory: storeDirectory, stateDirectory: stateDirectory, logDirectory: logDirectory,
                              settings: configuration.buildSettings)
    }
}
