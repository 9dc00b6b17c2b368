import Glibc

/// Handing an open descriptor to another process over a Unix socket (`SCM_RIGHTS`): the daemon
/// passes an accepted client connection to a pre-spawned worker. The channel is a
/// `SOCK_SEQPACKET` socketpair, so each message (one descriptor plus a few bytes) arrives whole
/// and a vanished peer shows as EPIPE on send and end-of-file on receive. The receiver
/// acknowledges with one byte, so the sender knows the descriptor arrived in a live process.
public enum DescriptorChannel {
    /// A connected pair of close-on-exec `SOCK_SEQPACKET` sockets (`stream`: `SOCK_STREAM`,
    /// a stand-in for a client connection).
    public static func makePair(stream: Bool = false) throws(SystemError) -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(stream ? SOCK_STREAM.rawValue : SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw SystemError("socketpair", errno: .current) }
        return (FileDescriptor(owning: fds[0]), FileDescriptor(owning: fds[1]))
    }

    /// The control-message area for one descriptor: CMSG_SPACE(sizeof(int)).
    static var headerSize: Int { (MemoryLayout<cmsghdr>.size + 7) & ~7 }
    static var controlSize: Int { headerSize + 8 }

    /// Sends `descriptor` and `payload` (1…64 bytes) as one message. Our copy stays open: the
    /// caller closes it. A channel whose other end is gone fails with EPIPE (no SIGPIPE).
    public static func send(_ channel: FileDescriptor, descriptor: FileDescriptor, payload: [UInt8]) throws(SystemError) {
        var data = payload.isEmpty ? [0] : payload
        var control = [UInt8](repeating: 0, count: controlSize)
        let header = headerSize
        let rc = withMessage(&data, &control) { message, controlBytes in
            let cmsg = controlBytes.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
            cmsg.pointee.cmsg_len = header + MemoryLayout<Int32>.size
            cmsg.pointee.cmsg_level = SOL_SOCKET
            cmsg.pointee.cmsg_type = Int32(SCM_RIGHTS)
            controlBytes.storeBytes(of: descriptor.rawValue, toByteOffset: header, as: Int32.self)
            return retryingSize { Glibc.sendmsg(channel.rawValue, &message, Int32(MSG_NOSIGNAL)) }
        }
        if rc < 0 { throw SystemError("sendmsg", errno: .current) }
    }

    /// Waits for one message; nil when the other end closed the channel. The descriptor comes
    /// close-on-exec. A message without a descriptor is an error (EBADMSG).
    public static func receive(_ channel: FileDescriptor) throws(SystemError) -> (descriptor: FileDescriptor, payload: [UInt8])? {
        var data = [UInt8](repeating: 0, count: 64)
        var control = [UInt8](repeating: 0, count: controlSize)
        let header = headerSize
        var received: Int32 = -1
        let n = withMessage(&data, &control) { message, controlBytes in
            let n = retryingSize { Glibc.recvmsg(channel.rawValue, &message, Int32(MSG_CMSG_CLOEXEC)) }
            if n > 0, message.msg_controllen >= header + MemoryLayout<Int32>.size {
                let cmsg = controlBytes.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                if cmsg.pointee.cmsg_level == SOL_SOCKET && cmsg.pointee.cmsg_type == Int32(SCM_RIGHTS) {
                    received = controlBytes.load(fromByteOffset: header, as: Int32.self)
                }
            }
            return n
        }
        if n < 0 { throw SystemError("recvmsg", errno: .current) }
        if n == 0 { return nil }
        guard received >= 0 else { throw SystemError("recvmsg", errno: Errno(rawValue: EBADMSG)) }
        return (FileDescriptor(owning: received), Array(data[..<n]))
    }

    /// The receiver's "got it" (one byte), so the sender can close its copy of the descriptor.
    public static func acknowledge(_ channel: FileDescriptor) throws(SystemError) {
        var byte: UInt8 = 0x61
        let n = retryingSize { Glibc.send(channel.rawValue, &byte, 1, Int32(MSG_NOSIGNAL)) }
        if n < 0 { throw SystemError("send", errno: .current) }
    }

    /// After poll said `channel` is readable: true if the receiver acknowledged, false if it
    /// closed its end without doing so (it died). Does not block.
    public static func readAcknowledgement(_ channel: FileDescriptor) -> Bool {
        var byte: UInt8 = 0
        return retryingSize { Glibc.recv(channel.rawValue, &byte, 1, Int32(MSG_DONTWAIT)) } == 1
    }

    /// Whether the other end of `channel` is gone with nothing left to read (a peek that does
    /// not block: a message still queued, or nothing yet from a live peer, is false).
    public static func isClosedByPeer(_ channel: FileDescriptor) -> Bool {
        var byte: UInt8 = 0
        return retryingSize { Glibc.recv(channel.rawValue, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) } == 0
    }

    /// Repeats a call interrupted by a signal (EINTR); the result and errno of the last try.
    /// A one-buffer `msghdr` over `data` with `control` as its control area, for `body`.
    private static func withMessage(_ data: inout [UInt8], _ control: inout [UInt8],
                                    _ body: (inout msghdr, UnsafeMutableRawBufferPointer) -> Int) -> Int {
        data.withUnsafeMutableBytes { dataBytes in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: dataBytes.baseAddress, iov_len: dataBytes.count)
                return withUnsafeMutablePointer(to: &vector) { v in
                    var message = msghdr()
                    message.msg_iov = v
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    return body(&message, controlBytes)
                }
            }
        }
    }

    private static func retryingSize(_ body: () -> Int) -> Int {
        while true {
            let n = body()
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }
}
