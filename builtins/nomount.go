package builtins

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mountSyscalls are the system calls `rfork m` refuses: every way to
// change the mount table.
var mountSyscalls = []uintptr{
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT,
	unix.SYS_OPEN_TREE, unix.SYS_MOVE_MOUNT, unix.SYS_FSOPEN, unix.SYS_FSCONFIG,
	unix.SYS_FSMOUNT, unix.SYS_FSPICK, unix.SYS_MOUNT_SETATTR,
}

// auditArch is the AUDIT_ARCH_* value of the architecture nsh is built
// for; the filter refuses a system call made under another one (the i386
// ABI on x86-64), where the numbers mean other calls.
var auditArch = map[string]uint32{
	"amd64":   unix.AUDIT_ARCH_X86_64,
	"arm64":   unix.AUDIT_ARCH_AARCH64,
	"riscv64": unix.AUDIT_ARCH_RISCV64,
	"ppc64le": unix.AUDIT_ARCH_PPC64LE,
	"s390x":   unix.AUDIT_ARCH_S390X,
	"loong64": unix.AUDIT_ARCH_LOONGARCH64,
}

// x32Bit marks the x32 ABI's system call numbers on x86-64.
const x32Bit = 0x40000000

// Offsets in struct seccomp_data.
const (
	seccompDataNr   = 0
	seccompDataArch = 4
)

func bpfStmt(code uint16, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k}
}

func bpfJump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// noMountFilter builds the BPF program: EPERM for the mount family (and
// their x32 numbers), ENOSYS for a foreign architecture, allow the rest.
func noMountFilter() ([]unix.SockFilter, error) {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("rfork m: no seccomp architecture known for %s", runtime.GOARCH)
	}
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	nrs := append([]uintptr{}, mountSyscalls...)
	if runtime.GOARCH == "amd64" {
		for _, nr := range mountSyscalls {
			nrs = append(nrs, nr|x32Bit)
		}
	}
	prog := []unix.SockFilter{
		bpfStmt(ld, seccompDataArch),
		bpfJump(jeq, arch, 1, 0),
		bpfStmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)),
		bpfStmt(ld, seccompDataNr),
	}
	// One comparison per call: on a match, jump to the EPERM return after
	// the remaining comparisons and the allow.
	for i, nr := range nrs {
		prog = append(prog, bpfJump(jeq, uint32(nr), uint8(len(nrs)-i), 0))
	}
	prog = append(prog,
		bpfStmt(ret, unix.SECCOMP_RET_ALLOW),
		bpfStmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)),
	)
	return prog, nil
}

// denyMounts installs the filter on every thread of this process
// (SECCOMP_FILTER_FLAG_TSYNC: a Go process has many) and so on everything
// it starts. Without CAP_SYS_ADMIN the kernel requires no_new_privs first;
// TSYNC carries it to the other threads.
func denyMounts() error {
	filter, err := noMountFilter()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !hasCapSysAdmin() {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) refusing the mount calls: %w", errno)
	}
	return nil
}

// hasCapSysAdmin reports whether this thread has CAP_SYS_ADMIN in its
// effective set.
func hasCapSysAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_SYS_ADMIN/32].Effective&(1<<(unix.CAP_SYS_ADMIN%32)) != 0
}
