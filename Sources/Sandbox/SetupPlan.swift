import CSandbox

/// Turns a `SandboxSpec` into the flat list of steps the C child replays, in guix-daemon's phase
/// order (guix-daemon.md §1.7): user-namespace maps, session and stdio, loopback, host and
/// domain name, private mounts, the root and its entries, pivot_root, `/` read-only, chdir,
/// fd hygiene, personality, limits, ids, exec. Pure apart from the injected source lookup.

/// What a bind-mount source is on the host, decided before the clone.
enum BindSource: Equatable {
    case directory
    case file
    case symlink(target: [UInt8])
    /// Missing or unreadable: the bind step runs anyway and fails in the child, naming itself.
    case missing
}

enum SetupPlan {
    /// `networkReady`: the sandbox joins a network namespace whose `lo` is up already.
    static func steps(for spec: SandboxSpec, networkReady: Bool = false, lookup: (String) -> BindSource) throws(SandboxError) -> [SetupStep] {
        var plan = Builder(root: spec.root?.directory ?? "/")
        plan.recycled = spec.root?.existingMountPoints ?? [:]
        try plan.validate(spec)
        guard let root = spec.root else {
            // No chroot: guix-daemon's basic phases (spawn.cc:getBasicSpawnPhases).
            plan.add(.init(CSANDBOX_SETSID, phase: "setsid", action: "creating a session"))
            plan.stdio()
            var ambient = SetupStep(CSANDBOX_DROP_AMBIENT_CAPS, phase: "dropAmbientCapabilities", action: "clearing ambient capabilities")
            ambient.ignoreErrors = true
            plan.add(ambient)
            plan.afterRoot(spec)
            return plan.steps
        }
        plan.identityMaps(spec.identity)
        plan.add(.init(CSANDBOX_SETSID, phase: "setsid", action: "creating a session"))
        // stdin is the sandbox's own /dev/null when the root has one (so /proc/self/fd/0 reads
        // `/dev/null` inside), else the host's, opened before the pivot.
        let ownNull = root.entries.contains { $0.insidePath == "/dev/null" }
        if !ownNull { plan.stdio() }
        var ambient = SetupStep(CSANDBOX_DROP_AMBIENT_CAPS, phase: "dropAmbientCapabilities", action: "clearing ambient capabilities")
        ambient.ignoreErrors = true  // Kernels before 4.3 have no ambient set.
        plan.add(ambient)
        if spec.network == .isolated && !networkReady {
            plan.add(.init(CSANDBOX_LOOPBACK_UP, phase: "initLoopback", action: "bringing up the loopback interface"))
        }
        if let hostname = spec.hostname {
            var step = SetupStep(CSANDBOX_SETHOSTNAME, phase: "setHostAndDomain", action: "setting the host name")
            step.bytes = hostname
            plan.add(step)
        }
        if let domainname = spec.domainname {
            var step = SetupStep(CSANDBOX_SETDOMAINNAME, phase: "setHostAndDomain", action: "setting the domain name")
            step.bytes = domainname
            plan.add(step)
        }
        // Nothing mounted below may propagate back to the host (or from it, later).
        var privateMounts = SetupStep(CSANDBOX_MOUNT, phase: "makeFilesystemsPrivate", action: "making / private")
        privateMounts.path = "/"
        privateMounts.mountFlags = MountFlag.recursive | MountFlag.privatePropagation
        plan.add(privateMounts)
        plan.root(root)
        // One lookup per source; file mount points that share a directory share one inode.
        var sources: [String: BindSource] = [:]
        for case .bind(let inside, let outside, _) in root.entries where sources[outside] == nil {
            sources[outside] = lookup(outside)
            if sources[outside] == .file || sources[outside] == .missing { plan.countFileMountPoint(inside) }
            plan.bindsPerDirectory[InsidePath.parent(inside), default: 0] += 1
        }
        if let view = root.readOnlyView { plan.openView(of: view, root.entries, sources: sources) }
        for entry in root.entries { plan.entry(entry, lookup: { sources[$0] ?? lookup($0) }) }
        plan.removeUnusedRecycled()
        plan.removeMountPointStubs()
        plan.closeView()
        plan.afterPivot(spec, root: root, stdio: ownNull)
        return plan.steps
    }

    /// Accumulates steps and remembers which directories exist inside the root.
    struct Builder {
        let root: String
        var steps: [SetupStep] = []
        var directories: Set<String> = ["/"]
        /// File mount points per directory (counted first), and each such directory's stub.
        var fileMountPoints: [String: Int] = [:]
        var stubs: [(directory: String, stub: String)] = []
        /// Bind mounts per directory: one with many (the store) is entered once and its mount
        /// points named relative to it (path walks were a third of the child's time). `cwd`: where
        /// the child is; an absolute mount or chdir forgets it (a mount over it leaves us below).
        var bindsPerDirectory: [String: Int] = [:]
        var cwd: String?
        static let relativeNamesFrom = 8
        /// Host directory whose read-only binds come from the read-only view (ReadOnlyView.swift).
        var view: String?
        /// Mount points on disk not used yet (RecycledMountPoints.swift).
        var recycled: [String: MountPointKind] = [:]

        init(root: String) {
            self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        }

        mutating func add(_ step: SetupStep) {
            let movesOrCovers = [CSANDBOX_MOUNT, CSANDBOX_BIND, CSANDBOX_UMOUNT, CSANDBOX_CHDIR, CSANDBOX_PIVOT_ROOT, CSANDBOX_CHROOT]
            if movesOrCovers.contains(step.op), step.path?.hasPrefix("/") ?? true {
                cwd = nil
                // A stub under a new mount is out of reach (and out of sight): make another.
                if let target = step.path, step.op == CSANDBOX_MOUNT || step.op == CSANDBOX_BIND {
                    stubs.removeAll { root + $0.directory == target || (root + $0.directory).hasPrefix(target + "/") }
                }
            }
            steps.append(step)
        }

        /// Where an inside path is on the host before pivot_root: relative to `cwd` when it is
        /// directly in it.
        func host(_ inside: String) -> String {
            if let cwd, InsidePath.parent(inside) == cwd, let name = InsidePath.baseName(inside) { return name }
            return inside == "/" ? root : root + inside
        }

        /// chdir into `directory` (which exists) if it holds many mount points.
        mutating func enter(_ directory: String) {
            guard cwd != directory, bindsPerDirectory[directory, default: 0] >= Self.relativeNamesFrom else { return }
            var step = SetupStep(CSANDBOX_CHDIR, phase: "mountIntoChroot", action: "changing to `\(directory)'")
            step.path = directory == "/" ? root : root + directory
            add(step)
            cwd = directory
        }

        func validate(_ spec: SandboxSpec) throws(SandboxError) {
            func check(_ path: String, _ what: String) throws(SandboxError) {
                if !InsidePath.isClean(path) {
                    throw .invalidSpec(reason: "\(what) `\(path)' must be an absolute path without `.' or `..'")
                }
            }
            try check(spec.program, "program")
            try check(spec.workingDirectory, "working directory")
            guard let root = spec.root else {
                if case .userNamespace = spec.identity {
                    throw .invalidSpec(reason: "a user namespace needs a root plan (chroot)")
                }
                if spec.network == .isolated { throw .invalidSpec(reason: "an isolated network needs a root plan (chroot)") }
                return
            }
            try check(root.directory, "root directory")
            for entry in root.entries {
                try check(entry.insidePath, "sandbox path")
                if entry.insidePath == "/" { throw .invalidSpec(reason: "an entry cannot replace `/'") }
            }
            if spec.arguments.isEmpty { throw .invalidSpec(reason: "argv must hold at least argv[0]") }
            for item in spec.arguments + spec.environment where item.contains(0) {
                throw .invalidSpec(reason: "argv and environment entries cannot contain NUL bytes")
            }
        }

        mutating func identityMaps(_ identity: SandboxIdentity) {
            guard case .userNamespace(let insideUID, let insideGID, let hostUID, let hostGID) = identity else { return }
            // Single-id maps of our own ids: the child may write them itself (user_namespaces(7)),
            // so the parent never has to run between clone and setup. No trailing newline, as Guix.
            for (file, contents) in [("uid_map", "\(insideUID) \(hostUID) 1"), ("setgroups", "deny"),
                                     ("gid_map", "\(insideGID) \(hostGID) 1")] {
                var step = SetupStep(CSANDBOX_WRITE_EXISTING, phase: "initializeUserNamespace", action: "writing `\(contents)' to /proc/self/\(file)")
                step.path = "/proc/self/" + file
                step.bytes = Array(contents.utf8)
                add(step)
            }
        }

        mutating func root(_ plan: RootPlan) {
            switch plan.kind {
            case .bindSelf:
                // pivot_root needs a mount point; binding the directory onto itself makes one while
                // everything created below still lands on disk. nosuid/nodev: nothing the builder
                // creates there can become a privileged program or a device (security.md P-1.4).
                var step = SetupStep(CSANDBOX_BIND, phase: "makeChrootSeparateFilesystem", action: "bind-mounting `\(root)' onto itself")
                step.path = root
                step.path2 = root
                step.mountFlags = MountFlag.noSetuid | MountFlag.noDevices
                add(step)
            case .tmpfs:
                var step = SetupStep(CSANDBOX_MOUNT, phase: "makeChrootSeparateFilesystem", action: "mounting a tmpfs on `\(root)'")
                step.path = root
                step.path2 = "none"
                step.text = "tmpfs"
                step.bytes = Array("mode=0755".utf8) + [0]
                step.mountFlags = MountFlag.noSetuid | MountFlag.noDevices
                add(step)
            }
        }

        mutating func parents(of inside: String) {
            if directories.contains(InsidePath.parent(inside)) { return }
            var prefix = ""
            let parts = inside.split(separator: "/").dropLast()
            for part in parts {
                prefix += "/" + part
                if directories.contains(prefix) { continue }
                makeDirectory(prefix, mode: 0o755, phase: "mountIntoChroot")
            }
        }

        mutating func makeDirectory(_ inside: String, mode: UInt32, phase: String) {
            var step = SetupStep(CSANDBOX_MKDIR, phase: phase, action: "creating directory `\(inside)'")
            step.path = host(inside)
            step.mode = mode
            add(step)
            directories.insert(inside)
        }

        mutating func entry(_ entry: RootEntry, lookup: (String) -> BindSource) {
            parents(of: entry.insidePath)
            switch entry {
            case .directory(let inside, let mode, let owner):
                if directories.contains(inside) {
                    var step = SetupStep(CSANDBOX_CHMOD, phase: "mountIntoChroot", action: "changing the mode of `\(inside)'")
                    step.path = host(inside)
                    step.mode = mode
                    add(step)
                } else {
                    makeDirectory(inside, mode: mode, phase: "mountIntoChroot")
                }
                if let owner { chown(inside, owner) }
            case .file(let inside, let contents, let mode):
                createFile(inside, contents: contents, mode: mode, phase: "mountIntoChroot")
            case .symlink(let inside, let target):
                symlink(inside, target: target, phase: "mountIntoChroot")
            case .bind(let inside, let outside, let options):
                enter(InsidePath.parent(inside))
                switch lookup(outside) {
                case .symlink(let target):
                    symlink(inside, target: target, phase: "mountIntoChroot")
                    return
                case .directory:
                    if directories.contains(inside) { break }
                    if reuse(inside, as: .directory) { directories.insert(inside) } else { makeDirectory(inside, mode: 0o755, phase: "mountIntoChroot") }
                case .file, .missing:
                    if !reuse(inside, as: .file) { fileMountPoint(inside) }
                }
                let readOnly = options.contains(.readOnly) ? " read-only" : ""
                var step = SetupStep(CSANDBOX_BIND, phase: "mountIntoChroot", action: "bind-mounting `\(outside)' to `\(inside)'\(readOnly)")
                step.path = host(inside)
                step.path2 = outside
                step.mountFlags = options.rawValue
                viewed(&step, outside: outside, options: options)
                add(step)
            case .proc(let inside):
                makeDirectory(inside, mode: 0o555, phase: "mountProc")
                mount(inside, type: "proc", data: nil, flags: MountFlag.noSetuid | MountFlag.noDevices | MountFlag.noExec, phase: "mountProc")
            case .tmpfs(let inside, let options):
                makeDirectory(inside, mode: 0o1777, phase: "mountDevshm")
                mount(inside, type: "tmpfs", data: options, flags: MountFlag.noSetuid | MountFlag.noDevices, phase: "mountDevshm")
            case .readOnlyInPlace(let inside):
                var step = SetupStep(CSANDBOX_BIND, phase: "mountIntoChroot", action: "making `\(inside)' read-only")
                step.path = host(inside)
                step.path2 = host(inside)
                step.mountFlags = BindOptions.readOnly.rawValue
                add(step)
            case .devpts(let inside, let ptmxLink):
                makeDirectory(inside, mode: 0o755, phase: "mountDevpts")
                // A private instance: the host's terminals stay invisible. ptmxmode=0666 instead of a
                // later chmod, which a user namespace may refuse.
                mount(inside, type: "devpts", data: "newinstance,mode=0620,ptmxmode=0666", flags: MountFlag.noSetuid | MountFlag.noExec, phase: "mountDevpts")
                if let ptmxLink {
                    parents(of: ptmxLink)
                    symlink(ptmxLink, target: Array((inside + "/ptmx").utf8), phase: "mountDevpts")
                }
            }
        }

        mutating func createFile(_ inside: String, contents: [UInt8], mode: UInt32, phase: String) {
            var step = SetupStep(CSANDBOX_CREATE_FILE, phase: phase, action: "creating file `\(inside)'")
            step.path = host(inside)
            step.bytes = contents
            step.mode = mode
            add(step)
        }

        mutating func symlink(_ inside: String, target: [UInt8], phase: String) {
            var step = SetupStep(CSANDBOX_SYMLINK, phase: phase, action: "creating symlink `\(inside)'")
            step.path = host(inside)
            step.path2 = String(decoding: target, as: UTF8.self)
            add(step)
        }

        mutating func chown(_ inside: String, _ owner: Ownership) {
            var step = SetupStep(CSANDBOX_CHOWN, phase: "mountIntoChroot", action: "changing the owner of `\(inside)'")
            step.path = host(inside)
            step.a = Int64(owner.uid)
            step.b = Int64(owner.gid)
            add(step)
        }

        mutating func mount(_ inside: String, type: String, data: String?, flags: UInt, phase: String) {
            var step = SetupStep(CSANDBOX_MOUNT, phase: phase, action: "mounting \(type) on `\(inside)'")
            step.path = host(inside)
            step.path2 = "none"
            step.text = type
            step.bytes = data.map { Array($0.utf8) + [0] }
            step.mountFlags = flags
            add(step)
        }

        mutating func stdio() {
            var step = SetupStep(CSANDBOX_STDIO, phase: "earlyIOSetup", action: "redirecting stdin to /dev/null and stdout/stderr to the log")
            step.path = "/dev/null"
            add(step)
        }

        mutating func afterPivot(_ spec: SandboxSpec, root plan: RootPlan, stdio withOwnNull: Bool) {
            var pivot = SetupStep(CSANDBOX_PIVOT_ROOT, phase: "chroot", action: "pivoting the root to `\(root)'")
            pivot.path = root
            add(pivot)
            if withOwnNull { stdio() }
            if let mode = plan.finalMode {
                var step = SetupStep(CSANDBOX_CHMOD, phase: "clearRootWritePerms", action: "making / read-only")
                step.path = "/"
                step.mode = mode
                add(step)
            }
            afterRoot(spec)
        }

        /// From chdir to exec: the same with or without a chroot.
        mutating func afterRoot(_ spec: SandboxSpec) {
            var chdir = SetupStep(CSANDBOX_CHDIR, phase: "chdir", action: "changing to `\(spec.workingDirectory)'")
            chdir.path = spec.workingDirectory
            add(chdir)
            add(.init(CSANDBOX_CLOSE_FDS, phase: "closeMostFDs", action: "closing file descriptors"))
            if let personality = spec.personality {
                var step = SetupStep(CSANDBOX_PERSONALITY, phase: "setPersonality", action: "setting the personality")
                step.a = Int64(personality)
                add(step)
            }
            if spec.oomSacrifice {
                var step = SetupStep(CSANDBOX_WRITE_EXISTING, phase: "oomSacrifice", action: "raising oom_score_adj")
                step.path = "/proc/self/oom_score_adj"
                step.bytes = Array("1000".utf8)
                step.ignoreErrors = true  // Guix ignores it too: /proc may be missing or refuse.
                add(step)
            }
            for limit in spec.limits {
                var step = SetupStep(CSANDBOX_RLIMIT, phase: "setLimits", action: "setting resource limit \(limit.resource)")
                step.a = Int64(limit.resource)
                step.b = Int64(bitPattern: limit.soft)
                step.c = Int64(bitPattern: limit.hard)
                add(step)
            }
            if case .buildUser(let uid, let gid, let groups) = spec.identity {
                var setGroups = SetupStep(CSANDBOX_SETGROUPS, phase: "setIDs", action: "setting supplementary groups")
                setGroups.ids = groups
                add(setGroups)
                var setGID = SetupStep(CSANDBOX_SETGID, phase: "setIDs", action: "setting group id \(gid)")
                setGID.a = Int64(gid)
                add(setGID)
                var setUID = SetupStep(CSANDBOX_SETUID, phase: "setIDs", action: "setting user id \(uid)")
                setUID.a = Int64(uid)
                add(setUID)
            }
            if spec.noNewPrivileges {
                add(.init(CSANDBOX_NO_NEW_PRIVS, phase: "setNoNewPrivs", action: "setting no_new_privs"))
            }
            var exec = SetupStep(CSANDBOX_EXEC, phase: "exec", action: "executing `\(spec.program)'")
            exec.path = spec.program
            exec.argv = spec.arguments
            exec.envp = spec.environment
            add(exec)
        }
    }
}
