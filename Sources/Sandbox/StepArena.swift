import CSandbox

/// C memory for a list of `SetupStep`s: every string, byte buffer and argv/envp array the
/// `csandbox_step`s point to. Allocated before the clone (the child cannot allocate) and freed
/// when the arena goes, which is after `csandbox_spawn` returned (the child has exec'd or died).
final class StepArena {
    private var allocations: [UnsafeMutableRawPointer] = []
    private var cSteps: [csandbox_step] = []

    init(_ steps: [SetupStep]) {
        cSteps = steps.map { step in
            var c = csandbox_step()
            c.op = step.op.rawValue
            c.flags = (step.ignoreErrors ? UInt32(CSANDBOX_IGNORE_ERRORS) : 0) | (step.bindAlone ? UInt32(CSANDBOX_BIND_ALONE) : 0)
            c.path = step.path.map { UnsafePointer(cString(Array($0.utf8))) }
            c.path2 = step.path2.map { UnsafePointer(cString(Array($0.utf8))) }
            c.text = step.text.map { UnsafePointer(cString(Array($0.utf8))) }
            if let bytes = step.bytes {
                c.bytes = UnsafeRawPointer(cString(bytes))
                c.length = bytes.count
            }
            c.mount_flags = step.mountFlags
            c.mode = step.mode
            c.a = step.a
            c.b = step.b
            c.c = step.c
            if !step.ids.isEmpty {
                let ids = UnsafeMutablePointer<UInt32>.allocate(capacity: step.ids.count)
                ids.initialize(from: step.ids, count: step.ids.count)
                allocations.append(UnsafeMutableRawPointer(ids))
                c.ids = UnsafePointer(ids)
                c.id_count = step.ids.count
            }
            if step.op == CSANDBOX_EXEC {
                c.argv = UnsafePointer(vector(step.argv))
                c.envp = UnsafePointer(vector(step.envp))
            }
            return c
        }
    }

    deinit {
        for pointer in allocations { pointer.deallocate() }
    }

    /// A NUL-terminated copy of `bytes`.
    private func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        for (index, byte) in bytes.enumerated() { pointer[index] = CChar(bitPattern: byte) }
        pointer[bytes.count] = 0
        allocations.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }

    /// A NULL-terminated array of C strings (argv/envp).
    private func vector(_ items: [[UInt8]]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: items.count + 1)
        for (index, item) in items.enumerated() { array[index] = cString(item) }
        array[items.count] = nil
        allocations.append(UnsafeMutableRawPointer(array))
        return array
    }

    func withSteps<R>(_ body: (UnsafePointer<csandbox_step>, Int) -> R) -> R {
        if cSteps.isEmpty { cSteps.append(csandbox_step()) }  // Never empty: a plan ends in exec.
        return cSteps.withUnsafeBufferPointer { buffer in body(buffer.baseAddress.unsafelyUnwrapped, buffer.count) }
    }
}
