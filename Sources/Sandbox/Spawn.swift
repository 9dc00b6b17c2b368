import CSandbox
import LinuxSystem

/// Starting a sandboxed process.
public enum Sandbox {
    /// Clones the child, replays the spec's setup and execs the program. Returns once the
    /// program runs; a failed setup step throws `.setupFailed` naming the step.
    public static func spawn(_ spec: SandboxSpec) throws(SandboxError) -> SandboxProcess {
        // Namespaces made ahead (PreparedNamespaces), else the clone makes them.
        let network = spec.network == .isolated && spec.root != nil ? PreparedNamespaces.shared.take(.network) : nil
        let ipc = spec.root != nil ? PreparedNamespaces.shared.take(.ipc) : nil
        defer {  // The child holds them from the clone on.
            try? network?.close()
            try? ipc?.close()
        }
        let steps = try SetupPlan.steps(for: spec, networkReady: network != nil, lookup: hostBindSource)
        let log: (read: FileDescriptor, write: FileDescriptor)
        do { log = try makePipe() } catch { throw .system(error) }

        var flags: UInt = 0
        if spec.root != nil { flags |= CSANDBOX_CLONE_NEWNS | CSANDBOX_CLONE_NEWPID | CSANDBOX_CLONE_NEWUTS }
        if spec.root != nil && ipc == nil { flags |= CSANDBOX_CLONE_NEWIPC }
        if spec.network == .isolated && network == nil { flags |= CSANDBOX_CLONE_NEWNET }
        let userNamespace: Bool
        if case .userNamespace = spec.identity { userNamespace = true } else { userNamespace = false }
        if userNamespace { flags |= CSANDBOX_CLONE_NEWUSER }

        // guix-daemon kills the build user's processes before each build too: a stray of an
        // earlier build must not meet this one (security.md P-1.2).
        if case .buildUser(let uid, _, _) = spec.identity { try? killUser(uid) }

        let arena = StepArena(steps)
        let result = arena.withSteps { (pointer, count) in
            var request = csandbox_spawn_request(steps: pointer, step_count: count, clone_flags: flags, log_fd: log.write.rawValue,
                                                 network_fd: network?.rawValue ?? -1,
                                                 home_network_fd: network == nil ? -1 : PreparedNamespaces.shared.homeFD(.network),
                                                 ipc_fd: ipc?.rawValue ?? -1,
                                                 home_ipc_fd: ipc == nil ? -1 : PreparedNamespaces.shared.homeFD(.ipc))
            return csandbox_spawn(&request)
        }
        // The child holds its own copy (fds 1 and 2); ours must go so EOF means "all writers gone".
        try? log.write.close()

        switch result.status {
        case 0:
            let process = SandboxProcess(handle: ProcessHandle(pid: result.pid, owningPidfd: result.pidfd), log: log.read,
                                         identity: spec.identity, ownPIDNamespace: spec.root != nil)
            // Unreaped, the pid is still the child's: if its mount namespace is gone already
            // (the program exited at once), there is nothing to hold.
            if spec.root != nil { process.mountNamespace = try? FileDescriptor.open("/proc/\(result.pid)/ns/mnt", [.readOnly]) }
            return process
        case 1:
            let index = Int(result.failed_step)
            let errno = Errno(rawValue: result.error)
            guard steps.indices.contains(index) else {
                throw .setupFailed(phase: "unknown", action: "step \(index)", step: index, errno: errno)
            }
            throw .setupFailed(phase: steps[index].phase, action: steps[index].action, step: index, errno: errno)
        default:
            throw .cloneFailed(errno: Errno(rawValue: result.error), userNamespace: userNamespace)
        }
    }

    /// lstat of a bind source on the host.
    static func hostBindSource(_ path: String) -> BindSource {
        guard let status = try? HostPath.status(path) else { return .missing }
        switch status.type {
        case .directory:
            return .directory
        case .symlink:
            guard let target = try? HostPath.readLink(path) else { return .missing }
            return .symlink(target: target)
        default:
            return .file
        }
    }
}
