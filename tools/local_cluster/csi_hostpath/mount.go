package main

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	major, minor uint64
	root         string // path inside the source filesystem that is mounted
	mountPoint   string
	readOnly     bool // per-mount "ro" option
}

const mountInfoPath = "/proc/self/mountinfo"

func readMountInfo() ([]mountEntry, error) {
	f, err := os.Open(mountInfoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		majMin := strings.SplitN(fields[2], ":", 2)
		if len(majMin) != 2 {
			continue
		}
		maj, err1 := strconv.ParseUint(majMin[0], 10, 32)
		min, err2 := strconv.ParseUint(majMin[1], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		e := mountEntry{
			major:      maj,
			minor:      min,
			root:       unescapeMountPath(fields[3]),
			mountPoint: unescapeMountPath(fields[4]),
		}
		for _, o := range strings.Split(fields[5], ",") {
			if o == "ro" {
				e.readOnly = true
			}
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// unescapeMountPath decodes the octal escapes (\040 etc.) used in mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// realPath resolves symlinks when possible, else returns the cleaned absolute path.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

func hasPathPrefix(p, prefix string) bool {
	return prefix == "/" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// mountRefsIn lists the mount points (other than dir itself) where dir is
// bind-mounted, judged from mountinfo alone (no stat of other mounts): same
// device and same root inside that device.
func mountRefsIn(mounts []mountEntry, dir string) []string {
	dir = realPath(dir)
	var base *mountEntry
	for i := range mounts {
		m := &mounts[i]
		if hasPathPrefix(dir, m.mountPoint) && (base == nil || len(m.mountPoint) >= len(base.mountPoint)) {
			base = m // later entries stack on earlier ones
		}
	}
	if base == nil {
		return nil
	}
	rel := strings.TrimPrefix(dir, base.mountPoint)
	wantRoot := path.Join(base.root, rel)
	var refs []string
	for _, m := range mounts {
		if m.major == base.major && m.minor == base.minor && m.root == wantRoot && m.mountPoint != dir {
			refs = append(refs, m.mountPoint)
		}
	}
	return refs
}

func mountRefs(dir string) ([]string, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return nil, err
	}
	return mountRefsIn(mounts, dir), nil
}

// mountAt returns the topmost mount whose mount point is p.
func mountAt(mounts []mountEntry, p string) (mountEntry, bool) {
	p = realPath(p)
	var found mountEntry
	ok := false
	for _, m := range mounts {
		if m.mountPoint == p {
			found, ok = m, true
		}
	}
	return found, ok
}

// bindMount mounts src onto target, read-only if asked.
func bindMount(src, target string, readOnly bool) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", src, target, err)
	}
	if readOnly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			_ = unix.Unmount(target, 0)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}
