package main

import (
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"golang.org/x/sys/unix"
)

// quietLogs silences the driver's per-call log lines unless
// CSI_HOSTPATH_TEST_LOG=1 is set.
func quietLogs(t *testing.T) {
	if os.Getenv("CSI_HOSTPATH_TEST_LOG") == "1" {
		return
	}
	prev := log.Writer()
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(prev) })
}

// unmountUnder lazily unmounts anything left mounted below dir, so a failed
// test cannot make t.TempDir's cleanup delete volume data through a mount.
func unmountUnder(t *testing.T, dir string) {
	t.Cleanup(func() {
		mounts, err := readMountInfo()
		if err != nil {
			return
		}
		real := realPath(dir)
		for i := len(mounts) - 1; i >= 0; i-- {
			if strings.HasPrefix(mounts[i].mountPoint, real+"/") {
				t.Logf("unmounting leftover %s", mounts[i].mountPoint)
				_ = unix.Unmount(mounts[i].mountPoint, unix.MNT_DETACH)
			}
		}
	})
}

// startDriver serves a driver on a socket in dir and stops it at test end.
func startDriver(t *testing.T, dir string) (*Driver, string) {
	t.Helper()
	d, err := NewDriver(Config{
		DriverName:        "hostpath.csi.inferno.ops",
		NodeID:            "sanity-node",
		VolumesDir:        filepath.Join(dir, "volumes"),
		SnapshotsDir:      filepath.Join(dir, "snapshots"),
		MaxVolumesPerNode: 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "csi.sock")
	lis, err := listenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := d.NewCSIServer()
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return d, sock
}

func TestSanity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the sanity suite bind-mounts volumes and needs root")
	}
	quietLogs(t)
	dir := t.TempDir()
	unmountUnder(t, dir)
	_, sock := startDriver(t, dir)

	cfg := sanity.NewTestConfig()
	cfg.Address = "unix://" + sock
	cfg.TargetPath = filepath.Join(dir, "target")
	cfg.StagingPath = filepath.Join(dir, "staging")
	cfg.TestVolumeSize = 10 << 20 // 10 MiB
	cfg.TestNodeVolumeAttachLimit = false
	sanity.Test(t, cfg)
}
