/// One `LocalStore` (one SQLite connection) shared by the build threads of a request: every
/// use goes through `with`, one thread at a time. Long work outside the database (NAR dumps,
/// waiting on builders, path locks) is done outside `with`.
import LocalStore
import LinuxSystem

public final class SharedStore: @unchecked Sendable {
    private let store: LocalStore
    private let lock = ConditionLock()

    public init(_ store: LocalStore) { self.store = store }

    /// The store's layout and configuration are immutable: readable without the lock.
    public var layout: StoreLayout { store.layout }
    public var configuration: StoreConfiguration { store.configuration }

    /// Runs `body` holding the store; LocalStore errors come back as `BuildError.store`.
    public func query<T>(_ body: (LocalStore) throws -> T) throws(BuildError) -> T {
        lock.lock()
        defer { lock.unlock() }
        do { return try body(store) } catch let error as LocalStoreError { throw .store(error) }
        catch let error as BuildError { throw error } catch { throw .misc("\(error)") }
    }
}

/// Where a build's output and messages go: called from build threads, one call at a time (the
/// Builder serialises them), so a daemon can write each to its client as it comes.
public enum BuildEvent: Sendable {
    /// A chunk of a builder's stdout/stderr; `pid` is the builder's host pid, as in
    /// `@ build-started` (for `@ build-log <pid> <len>` multiplexing).
    case output(derivation: String, pid: Int32, bytes: [UInt8])
    /// A line for the client's stderr channel (messages, `@ build-…` traces when asked for),
    /// without the trailing newline.
    case message(String)
    /// The `building path(s) …` line that opens a build: guix-daemon shows it only to clients
    /// of info verbosity or more, unlike other messages (Nix clients get a build activity).
    case building(String)
    /// A builder process started for `derivation` (absolute .drv path).
    case started(derivation: String)
    /// That build ended (after its last `output`), successfully or not.
    case finished(derivation: String, succeeded: Bool)
}

public typealias BuildEventSink = @Sendable (BuildEvent) -> Void

/// Serialises calls into a `BuildEventSink`.
final class EventChannel: @unchecked Sendable {
    private let sink: BuildEventSink
    private let lock = ConditionLock()
    init(_ sink: @escaping BuildEventSink) { self.sink = sink }
    func send(_ event: BuildEvent) {
        lock.lock()
        defer { lock.unlock() }
        sink(event)
    }
    func message(_ text: String) { send(.message(text)) }
    func building(_ text: String) { send(.building(text)) }
}
