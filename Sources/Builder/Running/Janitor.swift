/// Removing a finished build's chroot and build tree off the request's critical path. A tree
/// that held mount points of a (now dead) sandbox takes tens of milliseconds to delete (the
/// kernel detaches stale mounts with RCU grace periods), so it is first renamed to a private
/// name in the same directory (instant, and frees the name for the next build of the same
/// derivation), then deleted by one background thread. `Builder.waitForCleanup()` drains it;
/// anything left at exit is an invalid store entry the GC removes, or a dead tree in TMPDIR.
import LinuxSystem

final class Janitor: @unchecked Sendable {
    static let shared = Janitor()

    private let lock = ConditionLock()
    /// `recycle`: (kind, path of the directory) when the emptied skeleton is to be kept.
    private var queue: [(directory: FileDescriptor, name: [UInt8], recycle: (SpareDirectories.Kind, String)?)] = []
    private var busy = false
    private var thread: SystemThread?
    private var counter = 0

    /// Renames `name` under `directory` to a trash name and schedules its removal; removes it
    /// at once if the rename fails.
    func dispose(_ name: [UInt8], in directory: FileDescriptor, recycle: (SpareDirectories.Kind, String)? = nil) {
        let trash: [UInt8] = lock.withLock {
            counter += 1
            return Array(".trash-build-\(ProcessIdentity.processID)-\(counter)".utf8)
        }
        do {
            try directory.renameNoReplace(at: name, to: directory, trash)
        } catch {
            if error.errno != .noSuchFile { try? directory.removeTree(at: name) }
            return
        }
        lock.withLock {
            queue.append((directory, trash, recycle))
            if thread == nil { thread = try? SystemThread.start { [self] in self.work() } }
            lock.broadcast()
        }
        if lock.withLock({ thread == nil }) { drainNow() }
    }

    private func work() {
        while true {
            lock.lock()
            while queue.isEmpty { lock.wait() }
            let item = queue.removeFirst()
            busy = true
            lock.unlock()
            remove(item)
            lock.withLock {
                busy = false
                lock.broadcast()
            }
        }
    }

    private func drainNow() {
        while let item = lock.withLock({ queue.isEmpty ? nil : queue.removeFirst() }) { remove(item) }
    }

    private func remove(_ item: (directory: FileDescriptor, name: [UInt8], recycle: (SpareDirectories.Kind, String)?)) {
        if let (kind, path) = item.recycle {
            SpareDirectories.shared.recycle(kind, item.name, in: item.directory, directory: path)
        } else {
            try? item.directory.removeTree(at: item.name)
        }
    }

    /// Blocks until every scheduled removal is done.
    func waitUntilIdle() {
        lock.lock()
        while !queue.isEmpty || busy { lock.wait() }
        lock.unlock()
    }
}
