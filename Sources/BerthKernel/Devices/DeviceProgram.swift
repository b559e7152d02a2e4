import CBerth
import Glibc
import SystemPackage

/// A device policy as a BPF_PROG_TYPE_CGROUP_DEVICE program, for cgroup v2 (which
/// has no devices controller). Built by hand, as runc and crun do: a few loads
/// and compares per rule, no maps and no helpers, so no BPF toolchain is needed.
///
/// The kernel calls it for every open and mknod of a device node in the cgroup with
/// `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, where
/// access_type is `(access << 16) | type`; it returns 1 to allow, 0 to refuse (EPERM).
public struct DeviceProgram: Sendable, Equatable {
    /// `struct bpf_insn` records, 8 bytes each.
    public var instructions: [UInt8]
    public var count: Int { instructions.count / 8 }

    // linux/bpf.h
    static let devBlock: Int32 = 1, devChar: Int32 = 2
    static let accMknod: Int32 = 1, accRead: Int32 = 2, accWrite: Int32 = 4

    struct Insn {
        var code: UInt8
        var dst: UInt8 = 0
        var src: UInt8 = 0
        var off: Int16 = 0
        var imm: Int32 = 0

        var bytes: [UInt8] {
            let o = UInt16(bitPattern: off), i = UInt32(bitPattern: imm)
            return [code, (src << 4) | dst, UInt8(o & 0xff), UInt8(o >> 8),
                    UInt8(i & 0xff), UInt8((i >> 8) & 0xff), UInt8((i >> 16) & 0xff), UInt8(i >> 24)]
        }

        static func loadWord(_ dst: UInt8, ctxOffset: Int16) -> Insn { Insn(code: 0x61, dst: dst, src: 1, off: ctxOffset) }  // LDX|MEM|W
        static func and32(_ dst: UInt8, _ imm: Int32) -> Insn { Insn(code: 0x54, dst: dst, imm: imm) }  // ALU|AND|K
        static func rsh32(_ dst: UInt8, _ imm: Int32) -> Insn { Insn(code: 0x74, dst: dst, imm: imm) }  // ALU|RSH|K
        static func mov32(_ dst: UInt8, from src: UInt8) -> Insn { Insn(code: 0xbc, dst: dst, src: src) }  // ALU|MOV|X
        static func mov64(_ dst: UInt8, _ imm: Int32) -> Insn { Insn(code: 0xb7, dst: dst, imm: imm) }  // ALU64|MOV|K
        static func jumpIfNotEqual(_ dst: UInt8, _ imm: Int32, skip: Int16) -> Insn {
            Insn(code: 0x55, dst: dst, off: skip, imm: imm)  // JMP|JNE|K
        }
        static let exit = Insn(code: 0x95)
    }

    public init(_ policy: DevicePolicy) {
        // r2 = type, r3 = access, r4 = major, r5 = minor
        var program: [Insn] = [
            .loadWord(2, ctxOffset: 0), .and32(2, 0xffff),
            .loadWord(3, ctxOffset: 0), .rsh32(3, 16),
            .loadWord(4, ctxOffset: 4), .loadWord(5, ctxOffset: 8),
        ]
        for rule in policy.allow {
            // Each test jumps past the rest of this rule's block when it fails.
            var tests: [(Insn, Bool)] = []  // (instruction, is a jump)
            tests.append((.jumpIfNotEqual(2, rule.kind == .char ? Self.devChar : Self.devBlock, skip: 0), true))
            let allowed = (rule.read ? Self.accRead : 0) | (rule.write ? Self.accWrite : 0) | (rule.mknod ? Self.accMknod : 0)
            if allowed != 7 {
                // Every access asked for must be allowed: (access & ~allowed) == 0.
                tests.append((.mov32(1, from: 3), false))
                tests.append((.and32(1, ~allowed & 7), false))
                tests.append((.jumpIfNotEqual(1, 0, skip: 0), true))
            }
            if let major = rule.major { tests.append((.jumpIfNotEqual(4, Int32(bitPattern: major), skip: 0), true)) }
            if let minor = rule.minor { tests.append((.jumpIfNotEqual(5, Int32(bitPattern: minor), skip: 0), true)) }
            let block = tests.map(\.0) + [.mov64(0, 1), .exit]
            for (i, (insn, isJump)) in tests.enumerated() {
                var insn = insn
                if isJump { insn.off = Int16(block.count - i - 1) }
                program.append(insn)
            }
            program += [.mov64(0, 1), .exit]
        }
        program += [.mov64(0, 0), .exit]
        instructions = program.flatMap(\.bytes)
    }

    /// Loads the program and attaches it to the cgroup directory `cgroupDir`
    /// (replacing a device program attached there before).
    public func attach(to cgroupDir: String) throws {
        let cgroup = open(cgroupDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard cgroup >= 0 else { throw KernelError("open", cgroupDir, errno: Errno(rawValue: errno)) }
        defer { close(cgroup) }
        var log = [CChar](repeating: 0, count: 4096)
        let fd = instructions.withUnsafeBytes { insns in
            cberth_bpf_load_device_program(insns.baseAddress, count, &log, log.count)
        }
        guard fd >= 0 else {
            let verifier = String(cString: log).split(separator: "\n").suffix(3).joined(separator: "; ")
            throw KernelError("bpf(BPF_PROG_LOAD)", "device program for \(cgroupDir)", errno: Errno(rawValue: errno),
                              detail: verifier.isEmpty ? nil : verifier)
        }
        defer { close(fd) }
        guard cberth_bpf_attach_device_program(cgroup, fd) == 0 else {
            throw KernelError("bpf(BPF_PROG_ATTACH)", cgroupDir, errno: Errno(rawValue: errno))
        }
    }

    /// How many device programs the cgroup has attached.
    public static func attachedCount(_ cgroupDir: String) throws -> Int {
        let cgroup = open(cgroupDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard cgroup >= 0 else { throw KernelError("open", cgroupDir, errno: Errno(rawValue: errno)) }
        defer { close(cgroup) }
        let n = cberth_bpf_query_device_programs(cgroup)
        guard n >= 0 else { throw KernelError("bpf(BPF_PROG_QUERY)", cgroupDir, errno: Errno(rawValue: errno)) }
        return Int(n)
    }
}
