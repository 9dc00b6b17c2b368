import Glibc
import LinuxSystem
@testable import Sandbox

/// A fake store with a static busybox input, a data input and an undeclared path, plus a TMPDIR,
/// under one temporary directory; and a build user `cloister-probe1` in group `cloister-probe`
/// (created with groupadd/useradd as the seed's `guixbuilder` lines do, if absent). A dedicated
/// user rather than a `guixbuild` member: killUser after each build would otherwise end other
/// test suites' builds running as the same member. Root only.
final class ProbeFixture: @unchecked Sendable {
    static let shared: Result<ProbeFixture, SetupError> = Result { () throws(SetupError) in try ProbeFixture() }

    struct SetupError: Error, CustomStringConvertible {
        let description: String
    }

    static let probeGroup = "cloister-probe"
    static let probeUser = "cloister-probe1"
    static let poolGroup = "cloister-pool"
    static let poolMembers = ["cloister-pool1", "cloister-pool2"]
    let base: String
    let realStore: String
    let storeDirectory = "/gnu/store"
    let busybox = "/gnu/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-busybox"
    let data = "/gnu/store/1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-data"
    let undeclared = "/gnu/store/2ccccccccccccccccccccccccccccccc-secret"
    let temporaryDirectory: String
    let buildUser: UserAccount
    let buildGroup: GroupAccount

    var shell: String { busybox + "/bin/busybox" }

    init() throws(SetupError) {
        var template = Array("/tmp/cloister-sandbox-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SetupError(description: "mkdtemp failed") }
        base = String(cString: made)
        chmod(base, 0o755)
        // `shared` lives until exit, so its deinit never runs: clean up then.
        atexit { if case .success(let fixture) = ProbeFixture.shared { _ = try? run(["/bin/rm", "-rf", fixture.base]) } }
        realStore = base + "/store/gnu/store"
        temporaryDirectory = base + "/tmp"
        try run(["/bin/mkdir", "-p", realStore, temporaryDirectory, base + "/chroots"])
        let bb = realStore + "/" + busybox.split(separator: "/").last!
        let dt = realStore + "/" + data.split(separator: "/").last!
        let un = realStore + "/" + undeclared.split(separator: "/").last!
        try run(["/bin/mkdir", "-p", bb + "/bin", dt, un])
        try run(["/bin/cp", "/bin/busybox", bb + "/bin/busybox"])
        try run(["/bin/sh", "-c", "echo hello > '\(dt)/greeting' && echo secret > '\(un)/x' && chmod -R a+rX '\(base)/store'"])

        if (try? GroupAccount.named(Self.probeGroup)) ?? nil == nil {
            try run(["/usr/sbin/groupadd", "--system", Self.probeGroup])
        }
        if (try? UserAccount.named(Self.probeUser)) ?? nil == nil {
            try run(["/usr/sbin/useradd", "-g", Self.probeGroup, "-G", Self.probeGroup, "-d", "/var/empty", "-s", "/usr/sbin/nologin",
                     "-c", "Cloister probe build user", "--system", Self.probeUser])
        }
        // Separate users for BuildUserTests: suites run concurrently, and killing one suite's
        // build user must not hit the other's builds.
        if (try? GroupAccount.named(Self.poolGroup)) ?? nil == nil {
            try run(["/usr/sbin/groupadd", "--system", Self.poolGroup])
        }
        for member in Self.poolMembers where (try? UserAccount.named(member)) ?? nil == nil {
            try run(["/usr/sbin/useradd", "-g", Self.poolGroup, "-G", Self.poolGroup, "-d", "/var/empty", "-s", "/usr/sbin/nologin",
                     "--system", member])
        }
        guard let user = try? UserAccount.named(Self.probeUser), let group = try? GroupAccount.named(Self.probeGroup) else {
            throw SetupError(description: "no build user")
        }
        buildUser = user
        buildGroup = group
    }


    enum Mode: String, CaseIterable, Sendable, CustomStringConvertible {
        case pool, userNamespace
        var description: String { rawValue }
    }

    func identity(_ mode: Mode) throws -> SandboxIdentity {
        switch mode {
        case .pool:
            return .buildUser(uid: buildUser.uid, gid: buildGroup.gid, supplementaryGroups: try buildUser.groupList())
        case .userNamespace:
            return .userNamespace(insideUID: 30001, insideGID: 30000, hostUID: getuid(), hostGID: getgid())
        }
    }

    /// A fresh chroot root, made as guix-daemon makes it: `<drv>.chroot/top` next to the store
    /// items (0750, root:G in pool mode). Random names: suites call this concurrently.
    func newChroot(_ mode: Mode) throws -> String {
        let name = "\(UInt64.random(in: 1..<UInt64.max))-probe.drv"
        return try ChrootDirectory.create(storeDirectory: realStore, derivationBaseName: name,
                                          buildGroup: mode == .pool ? buildGroup.gid : nil).root
    }

    func environment(_ mode: Mode, name: String = "probe.drv", arguments: [String], inputs: [String]? = nil,
                     extra: [(inside: String, outside: String)] = []) throws -> (ChrootEnvironment, BuildDirectory) {
        let owner = mode == .pool ? Ownership(uid: buildUser.uid, gid: buildGroup.gid) : nil
        let dir = try BuildDirectory.create(temporaryDirectory: temporaryDirectory, derivationName: name, owner: owner)
        let env = ChrootEnvironment(
            derivationName: name, storeDirectory: storeDirectory, realStoreDirectory: realStore,
            inputPaths: inputs ?? [busybox, data], chrootDirectory: try newChroot(mode), buildDirectory: dir,
            identity: try identity(mode), builder: shell, arguments: arguments.map { Array($0.utf8) },
            derivationEnvironment: [(Array("out".utf8), Array("/gnu/store/3ddddddddddddddddddddddddddddddd-probe".utf8))])
        return (env, dir)
    }

    /// Runs busybox with `arguments` in the Guix environment and returns its status and output.
    func probe(_ mode: Mode, _ arguments: [String], limits: SandboxProcess.Limits = .init()) throws -> (status: ExitStatus, output: String, killed: SandboxProcess.KillReason?) {
        let (env, dir) = try environment(mode, arguments: arguments)
        defer { try? dir.remove() }
        let process = try Sandbox.spawn(try env.spec())
        var output: [UInt8] = []
        let outcome = try process.wait(limits: limits) { output += $0 }
        return (outcome.status, String(decoding: output, as: UTF8.self), outcome.killed)
    }

    /// `sh -c script` in the sandbox.
    func sh(_ mode: Mode, _ script: String) throws -> String {
        try probe(mode, ["sh", "-c", script]).output
    }
}

/// Runs a host command to completion; throws unless it exits 0.
@discardableResult
func run(_ argv: [String]) throws(ProbeFixture.SetupError) -> Int32 {
    var pid: pid_t = 0
    var cArgs = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for arg in cArgs { free(arg) } }
    let rc = posix_spawn(&pid, argv[0], nil, nil, cArgs, environ)
    guard rc == 0 else { throw .init(description: "posix_spawn \(argv[0]): \(rc)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    guard status == 0 else { throw .init(description: "\(argv.joined(separator: " ")) exited with \(status)") }
    return status
}

/// Host pids whose command line contains `needle` (to prove nothing survived a sandbox).
func hostProcesses(containing needle: String) -> [Int] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var found: [Int] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        guard let pid = Int(name) else { continue }
        let fd = open("/proc/\(pid)/cmdline", O_RDONLY)
        if fd < 0 { continue }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        close(fd)
        if n > 0 {
            let text = String(decoding: buffer[0..<n].map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if text.contains(needle) { found.append(pid) }
        }
    }
    return found
}
