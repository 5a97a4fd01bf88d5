package main

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Archives are plain (uncompressed) PAX tar streams of a volume directory. The
// root directory itself is stored as "./" so its mode, owner and times survive
// a restore. Regular files, directories, symlinks, FIFOs and device nodes are
// kept with mode (incl. setuid/setgid/sticky), uid/gid and mtime (ns). Not kept:
// hard links (stored as independent copies), sockets (skipped), xattrs/ACLs.

const ioBufSize = 1 << 20 // 1 MiB buffers for streaming archives

// writeTar streams the tree under root into w.
func writeTar(root string, w io.Writer) error {
	bw := bufio.NewWriterSize(w, ioBufSize)
	tw := tar.NewWriter(bw)
	buf := make([]byte, ioBufSize)

	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, walkErr error) error {
		if walkErr != nil {
			return walkErr
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		var link string
		switch mt := fi.Mode().Type(); {
		case mt == fs.ModeSymlink:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case mt == fs.ModeSocket:
			log.Printf("archive: skipping socket %s", p)
			return nil
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		name := filepath.ToSlash(rel)
		if fi.IsDir() {
			name += "/"
		}
		if p == root {
			name = "./"
		}
		hdr.Name = name
		hdr.Uname, hdr.Gname = "", "" // numeric ids only
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX // sub-second mtime, large ids and sizes
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		// Hide WriterTo/ReaderFrom so our large buffer is used.
		n, err := io.CopyBuffer(struct{ io.Writer }{tw}, struct{ io.Reader }{io.LimitReader(f, hdr.Size)}, buf)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if n != hdr.Size {
			return fmt.Errorf("%s: file shrank while archiving (%d of %d bytes)", p, n, hdr.Size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// extractTar unpacks a stream written by writeTar into dst, which must exist.
func extractTar(r io.Reader, dst string) error {
	dstReal, err := filepath.EvalSymlinks(dst)
	if err != nil {
		return err
	}
	tr := tar.NewReader(bufio.NewReaderSize(r, ioBufSize))
	buf := make([]byte, ioBufSize)
	type dirTimes struct {
		path         string
		atime, mtime time.Time
	}
	var dirs []dirTimes

	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean(hdr.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("archive entry %q escapes the destination", hdr.Name)
		}
		target := dstReal
		if name != "." {
			target = filepath.Join(dstReal, filepath.FromSlash(name))
			parent, err := filepath.EvalSymlinks(filepath.Dir(target))
			if err != nil {
				return err
			}
			if parent != dstReal && !strings.HasPrefix(parent, dstReal+string(os.PathSeparator)) {
				return fmt.Errorf("archive entry %q escapes the destination through a symlink", hdr.Name)
			}
		}

		switch hdr.Typeflag {
		case tar.TypeDir:
			if target != dstReal {
				if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
					return err
				}
			}
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{tr}, buf)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
			mode := uint32(hdr.Mode) & 0o7777
			switch hdr.Typeflag {
			case tar.TypeFifo:
				mode |= unix.S_IFIFO
			case tar.TypeChar:
				mode |= unix.S_IFCHR
			case tar.TypeBlock:
				mode |= unix.S_IFBLK
			}
			dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
			if err := unix.Mknod(target, mode, int(dev)); err != nil {
				return fmt.Errorf("mknod %s: %w", target, err)
			}
		default:
			log.Printf("archive: skipping entry %q of unsupported type %q", hdr.Name, hdr.Typeflag)
			continue
		}

		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			// After chown, which may clear setuid/setgid bits.
			if err := os.Chmod(target, hdr.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
				return err
			}
		}
		atime := hdr.AccessTime
		if atime.IsZero() {
			atime = hdr.ModTime
		}
		if hdr.Typeflag == tar.TypeDir {
			// Set after the directory's content has been created.
			dirs = append(dirs, dirTimes{target, atime, hdr.ModTime})
			continue
		}
		if err := setTimes(target, atime, hdr.ModTime); err != nil {
			return err
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setTimes(dirs[i].path, dirs[i].atime, dirs[i].mtime); err != nil {
			return err
		}
	}
	return nil
}

// syncFS flushes the filesystem holding p (best effort), so a volume whose
// metadata is written afterwards has its data on disk.
func syncFS(p string) {
	if d, err := os.Open(p); err == nil {
		_ = unix.Syncfs(int(d.Fd()))
		d.Close()
	}
}

func setTimes(p string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times on %s: %w", p, err)
	}
	return nil
}

// createArchive writes the tar of srcDir to tmpPath and renames it to finalPath
// once complete and synced. It returns the archive size.
func createArchive(srcDir, tmpPath, finalPath string) (int64, error) {
	f, err := os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int64, error) {
		f.Close()
		os.Remove(tmpPath)
		return 0, err
	}
	if err := writeTar(srcDir, f); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmpPath)
		return 0, err
	}
	if err := os.Rename(tmpPath, finalPath); err != nil {
		os.Remove(tmpPath)
		return 0, err
	}
	syncDir(filepath.Dir(finalPath))
	return fi.Size(), nil
}

// restoreArchive unpacks archivePath into tmpDir (which must not exist) and
// renames tmpDir to finalDir when complete.
func restoreArchive(archivePath, tmpDir, finalDir string) error {
	f, err := os.Open(archivePath)
	if err != nil {
		return err
	}
	defer f.Close()
	return populate(tmpDir, finalDir, func() error { return extractTar(f, tmpDir) })
}

// cloneDir copies srcDir to finalDir with cp -a semantics (via an in-memory
// tar stream), building it in tmpDir first.
func cloneDir(srcDir, tmpDir, finalDir string) error {
	return populate(tmpDir, finalDir, func() error {
		pr, pw := io.Pipe()
		werr := make(chan error, 1)
		go func() {
			err := writeTar(srcDir, pw)
			pw.CloseWithError(err)
			werr <- err
		}()
		err := extractTar(pr, tmpDir)
		if err == nil {
			_, err = io.Copy(io.Discard, pr)
		}
		pr.CloseWithError(errors.New("clone aborted"))
		if e := <-werr; e != nil && err == nil {
			err = e
		}
		return err
	})
}

func populate(tmpDir, finalDir string, fill func() error) error {
	if err := os.Mkdir(tmpDir, 0o700); err != nil {
		return err
	}
	if err := fill(); err != nil {
		os.RemoveAll(tmpDir)
		return err
	}
	syncFS(tmpDir)
	if err := os.Rename(tmpDir, finalDir); err != nil {
		os.RemoveAll(tmpDir)
		return err
	}
	syncDir(filepath.Dir(finalDir))
	return nil
}
