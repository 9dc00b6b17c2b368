import CSandbox

/// One step of the child's setup, as Swift values: what `csandbox_step` will hold, plus the
/// Guix phase name and a readable action for the error message if it fails.
struct SetupStep: Equatable, Sendable {
    var op: csandbox_op
    var ignoreErrors = false
    /// CSANDBOX_BIND of the source's own mount only (no MS_REC).
    var bindAlone = false
    var path: String?
    var path2: String?
    var text: String?
    var bytes: [UInt8]?
    var mountFlags: UInt = 0
    var mode: UInt32 = 0
    var a: Int64 = 0
    var b: Int64 = 0
    var c: Int64 = 0
    var ids: [UInt32] = []
    var argv: [[UInt8]] = []
    var envp: [[UInt8]] = []
    /// guix-daemon's phase label (spawn.cc), e.g. `mountIntoChroot`.
    var phase: String
    /// What the step does, e.g. "bind-mounting `/x' to `/y'".
    var action: String

    init(_ op: csandbox_op, phase: String, action: String) {
        self.op = op
        self.phase = phase
        self.action = action
    }
}

/// Linux mount(2) flags (include/uapi/linux/mount.h); Sandbox does not import Glibc.
enum MountFlag {
    static let readOnly: UInt = 1
    static let noSetuid: UInt = 2
    static let noDevices: UInt = 4
    static let noExec: UInt = 8
    static let bind: UInt = 4096
    static let recursive: UInt = 0x4000
    static let privatePropagation: UInt = 1 << 18
    static let detach: Int64 = 2  // umount2 MNT_DETACH
}
