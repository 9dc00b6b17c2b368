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
    private enum Item {
        /// `recycle`: (kind, path of the directory) when the emptied skeleton is to be kept.
        case remove(directory: FileDescriptor, name: [UInt8], recycle: (SpareDirectories.Kind, String)?)
        /// A descriptor to close (`release`).
        case close(FileDescriptor)
    }
    private var queue: [Item] = []
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
            queue.append(.remove(directory: directory, name: trash, recycle: recycle))
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

    /// Closes `fd` (a dead sandbox's mount namespace: the close unmounts everything in it) on
    /// the Janitor's thread, in order with the removals.
    func release(_ fd: FileDescriptor) {
        lock.withLock {
            queue.append(.close(fd))
            if thread == nil { thread = try? SystemThread.start { [self] in self.work() } }
            lock.broadcast()
        }
        if lock.withLock({ thread == nil }) { drainNow() }
    }

    private func remove(_ item: Item) {
        switch item {
        case .close(let fd):
            try? fd.close()
        case .remove(let directory, let name, let recycle?):
            SpareDirectories.shared.recycle(recycle.0, name, in: directory, directory: recycle.1)
        case .remove(let directory, let name, nil):
            try? directory.removeTree(at: name)
        }
    }

    /// Blocks until every scheduled removal is done.
    func waitUntilIdle() {
        lock.lock()
        while !queue.isEmpty || busy { lock.wait() }
        lock.unlock()
    }
}
