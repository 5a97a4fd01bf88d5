package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

func newTestDriver(t *testing.T, dir string) (*Driver, *controllerServer) {
	t.Helper()
	return newTestDriverOn(t, filepath.Join(dir, "volumes"), filepath.Join(dir, "snapshots"))
}

// newTestDriverOn is newTestDriver with its own volumes and snapshots directories.
func newTestDriverOn(t *testing.T, volumesDir, snapshotsDir string) (*Driver, *controllerServer) {
	t.Helper()
	d, err := NewDriver(Config{
		DriverName:   "hostpath.csi.inferno.ops",
		NodeID:       "test-node",
		VolumesDir:   volumesDir,
		SnapshotsDir: snapshotsDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, &controllerServer{d: d}
}

func mountCap() []*csi.VolumeCapability {
	return []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}}
}

func mustCreateVolume(t *testing.T, c *controllerServer, name string, src *csi.VolumeContentSource) *csi.Volume {
	t.Helper()
	resp, err := c.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name:                name,
		VolumeCapabilities:  mountCap(),
		CapacityRange:       &csi.CapacityRange{RequiredBytes: 64 << 20},
		VolumeContentSource: src,
	})
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", name, err)
	}
	return resp.GetVolume()
}

type entryInfo struct {
	mode     fs.FileMode
	uid, gid uint32
	mtime    int64
	link     string
	sha      string
}

// describeTree records everything the round trip must preserve.
func describeTree(t *testing.T, root string) map[string]entryInfo {
	t.Helper()
	out := map[string]entryInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entryInfo{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, mtime: fi.ModTime().UnixNano()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.link, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			e.sha = hex.EncodeToString(h.Sum(nil))
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareTrees(t *testing.T, want, got map[string]entryInfo) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("entry count: want %d, got %d", len(want), len(got))
	}
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing", p)
			continue
		}
		if w != g {
			t.Errorf("%s: want %+v, got %+v", p, w, g)
		}
	}
}

// fillTree writes nested dirs, a 0600 file owned by uid 1000, a symlink and
// random data, with fixed mtimes.
func fillTree(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a", "b", "c"), 0o755))
	must(os.Chmod(filepath.Join(root, "a", "b"), 0o2750))
	data := make([]byte, 3<<20+123)
	_, _ = rand.Read(data)
	must(os.WriteFile(filepath.Join(root, "a", "b", "c", "data.bin"), data, 0o644))
	secret := filepath.Join(root, "a", "secret.txt")
	must(os.WriteFile(secret, []byte("top secret\n"), 0o600))
	must(os.Chmod(secret, 0o600))
	must(os.Lchown(secret, 1000, 1000))
	must(os.WriteFile(filepath.Join(root, "empty"), nil, 0o640))
	must(os.Symlink("a/b/c/data.bin", filepath.Join(root, "link")))
	must(os.Lchown(filepath.Join(root, "link"), 1000, 1001))
	must(os.Symlink("/nonexistent/target", filepath.Join(root, "a", "dangling")))

	base := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	i := 0
	// Children before parents, so directory mtimes stick.
	var paths []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	for j := len(paths) - 1; j >= 0; j-- {
		mt := base.Add(time.Duration(i) * time.Hour)
		i++
		must(setTimes(paths[j], mt, mt))
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	quietLogs(t)
	d, c := newTestDriver(t, t.TempDir())
	src := mustCreateVolume(t, c, "src", nil)
	srcDir := d.store.VolumePath(src.GetVolumeId())
	fillTree(t, srcDir)
	want := describeTree(t, srcDir)
	if want["a/secret.txt"].uid != 1000 || want["a/secret.txt"].mode != 0o600 || want["link"].link == "" {
		t.Fatalf("fixture not as intended: %+v", want)
	}

	snap, err := c.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "snap", SourceVolumeId: src.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.GetSnapshot().GetSizeBytes(); got != src.GetCapacityBytes() {
		t.Errorf("size_bytes: want source capacity %d, got %d", src.GetCapacityBytes(), got)
	}
	if !snap.GetSnapshot().GetReadyToUse() || snap.GetSnapshot().GetCreationTime() == nil {
		t.Errorf("snapshot not ready or no creation time: %v", snap)
	}

	// Changing the source afterwards must not affect the snapshot.
	if err := os.WriteFile(filepath.Join(srcDir, "a", "secret.txt"), []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}

	restored := mustCreateVolume(t, c, "restored", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}})
	if restored.GetContentSource().GetSnapshot().GetSnapshotId() != snap.GetSnapshot().GetSnapshotId() {
		t.Errorf("content_source not returned: %v", restored)
	}
	compareTrees(t, want, describeTree(t, d.store.VolumePath(restored.GetVolumeId())))

	// A smaller volume than the snapshot's size is refused.
	_, err = c.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name: "too-small", VolumeCapabilities: mountCap(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 20},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}},
	})
	if status.Code(err) != codes.OutOfRange {
		t.Errorf("too small restore: want OutOfRange, got %v", err)
	}

	// Deleting the source volume leaves the snapshot usable.
	if _, err := c.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: src.GetVolumeId()}); err != nil {
		t.Fatal(err)
	}
	again := mustCreateVolume(t, c, "restored-after-delete", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}})
	compareTrees(t, want, describeTree(t, d.store.VolumePath(again.GetVolumeId())))

	// No temporary leftovers.
	for _, dir := range []string{d.store.volDir, d.store.snapDir} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("leftover %s in %s", e.Name(), dir)
			}
		}
	}
}

func TestCloneVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	quietLogs(t)
	d, c := newTestDriver(t, t.TempDir())
	src := mustCreateVolume(t, c, "src", nil)
	srcDir := d.store.VolumePath(src.GetVolumeId())
	fillTree(t, srcDir)
	want := describeTree(t, srcDir)
	clone := mustCreateVolume(t, c, "clone", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: src.GetVolumeId()}}})
	if clone.GetContentSource().GetVolume().GetVolumeId() != src.GetVolumeId() {
		t.Errorf("content_source not returned: %v", clone)
	}
	compareTrees(t, want, describeTree(t, d.store.VolumePath(clone.GetVolumeId())))
}

func TestFaultInjectError(t *testing.T) {
	quietLogs(t)
	d, c := newTestDriver(t, t.TempDir())
	vol := mustCreateVolume(t, c, "v", nil)

	_, err := c.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
		Name: "s", SourceVolumeId: vol.GetVolumeId(),
		Parameters: map[string]string{
			paramInjectError:                                "disk on fire",
			paramInjectErrorCode:                            "ResourceExhausted",
			"csi.storage.k8s.io/volumesnapshot/name":        "x",
			"csi.storage.k8s.io/volumesnapshotcontent/name": "y",
		},
	})
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || st.Message() != "disk on fire" {
		t.Errorf("want ResourceExhausted/disk on fire, got %v", err)
	}
	// Default code is Internal; the upper-snake spelling is accepted too.
	_, err = c.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
		Name: "s", SourceVolumeId: vol.GetVolumeId(), Parameters: map[string]string{paramInjectError: "boom"}})
	if status.Code(err) != codes.Internal {
		t.Errorf("want Internal, got %v", err)
	}
	if c, ok := parseCode("UNAVAILABLE"); !ok || c != codes.Unavailable {
		t.Errorf("parseCode(UNAVAILABLE) = %v %v", c, ok)
	}
	ents, _ := os.ReadDir(d.store.snapDir)
	if len(ents) != 0 {
		t.Errorf("an injected error must make no archive, found %d entries", len(ents))
	}
	if l, _ := c.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{}); len(l.GetEntries()) != 0 {
		t.Errorf("want no snapshots, got %v", l)
	}

	for _, tc := range []struct {
		params map[string]string
		name   string // must be named in the message
	}{
		{map[string]string{paramInjectError: "x", paramInjectErrorCode: "Bogus"}, paramInjectErrorCode},
		{map[string]string{paramInjectErrorCode: "OK"}, paramInjectErrorCode},
		{map[string]string{paramDelaySeconds: "-1"}, paramDelaySeconds},
		{map[string]string{paramDelaySeconds: "0"}, paramDelaySeconds},
		{map[string]string{paramDelaySeconds: "soon"}, paramDelaySeconds},
		{map[string]string{"inferno.ops/unknown": "1"}, "inferno.ops/unknown"},
		{map[string]string{"foo": "bar"}, "foo"},
	} {
		_, err := c.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
			Name: "bad", SourceVolumeId: vol.GetVolumeId(), Parameters: tc.params})
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.name) {
			t.Errorf("%v: want InvalidArgument naming %q, got %v", tc.params, tc.name, err)
		}
	}

	// Sidecar keys alone are fine.
	if _, err := c.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
		Name: "ok", SourceVolumeId: vol.GetVolumeId(),
		Parameters: map[string]string{"csi.storage.k8s.io/snapshotter-secret-name": "s"}}); err != nil {
		t.Errorf("sidecar parameters must be ignored: %v", err)
	}
}

func TestFaultDelay(t *testing.T) {
	quietLogs(t)
	_, c := newTestDriver(t, t.TempDir())
	vol := mustCreateVolume(t, c, "v", nil)

	// Deadline during the delay: DeadlineExceeded, promptly, no snapshot.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	start := time.Now()
	_, err := c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "slow", SourceVolumeId: vol.GetVolumeId(),
		Parameters: map[string]string{paramDelaySeconds: "30"}})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("want DeadlineExceeded, got %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("delay did not honour the deadline: took %v", el)
	}

	// Cancellation: Canceled.
	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = c.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "slow", SourceVolumeId: vol.GetVolumeId(),
		Parameters: map[string]string{paramDelaySeconds: "30"}})
	if status.Code(err) != codes.Canceled {
		t.Errorf("want Canceled, got %v", err)
	}
	if l, _ := c.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{}); len(l.GetEntries()) != 0 {
		t.Errorf("an interrupted delay must make no snapshot, got %v", l)
	}

	// A delay that runs out takes the snapshot, and does not block other calls.
	done := make(chan error, 1)
	start = time.Now()
	go func() {
		_, err := c.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "slow", SourceVolumeId: vol.GetVolumeId(),
			Parameters: map[string]string{paramDelaySeconds: "0.7"}})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	other := time.Now()
	mustCreateVolume(t, c, "meanwhile", nil)
	if el := time.Since(other); el > 450*time.Millisecond {
		t.Errorf("CreateVolume waited %v behind a delayed CreateSnapshot", el)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 700*time.Millisecond {
		t.Errorf("delay not applied: %v", el)
	}
}

func TestRestartKeepsState(t *testing.T) {
	quietLogs(t)
	dir := t.TempDir()
	_, c1 := newTestDriver(t, dir)
	vol := mustCreateVolume(t, c1, "v", nil)
	for _, n := range []string{"s1", "s2", "s3"} {
		if _, err := c1.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: n, SourceVolumeId: vol.GetVolumeId()}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := c1.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	volsBefore, _ := c1.ListVolumes(context.Background(), &csi.ListVolumesRequest{})

	// Simulate crash leftovers, which a restart must clean up and ignore.
	d1 := c1.d
	if err := os.WriteFile(d1.store.SnapshotTmpPath("snap-half"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(d1.store.VolumeTmpPath("vol-half"), 0o700); err != nil {
		t.Fatal(err)
	}

	d2, c2 := newTestDriver(t, dir)
	after, err := c2.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.GetEntries()) != 3 || len(before.GetEntries()) != 3 {
		t.Fatalf("want 3 snapshots before and after, got %d and %d", len(before.GetEntries()), len(after.GetEntries()))
	}
	for i := range before.GetEntries() {
		b, a := before.GetEntries()[i].GetSnapshot(), after.GetEntries()[i].GetSnapshot()
		if b.GetSnapshotId() != a.GetSnapshotId() || b.GetSizeBytes() != a.GetSizeBytes() ||
			b.GetSourceVolumeId() != a.GetSourceVolumeId() || !b.GetCreationTime().AsTime().Equal(a.GetCreationTime().AsTime()) {
			t.Errorf("snapshot %d differs after restart: %v vs %v", i, b, a)
		}
	}
	volsAfter, _ := c2.ListVolumes(context.Background(), &csi.ListVolumesRequest{})
	if len(volsAfter.GetEntries()) != 1 || volsAfter.GetEntries()[0].GetVolume().GetVolumeId() != volsBefore.GetEntries()[0].GetVolume().GetVolumeId() {
		t.Errorf("volumes differ after restart: %v vs %v", volsBefore, volsAfter)
	}
	// Idempotency survives the restart.
	again, err := c2.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "s2", SourceVolumeId: vol.GetVolumeId()})
	if err != nil || again.GetSnapshot().GetSnapshotId() != before.GetEntries()[1].GetSnapshot().GetSnapshotId() {
		t.Errorf("CreateSnapshot s2 after restart: %v %v", again, err)
	}
	v2, err := c2.CreateVolume(context.Background(), &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: mountCap(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 64 << 20}})
	if err != nil || v2.GetVolume().GetVolumeId() != vol.GetVolumeId() {
		t.Errorf("CreateVolume v after restart: %v %v", v2, err)
	}
	for _, p := range []string{d2.store.SnapshotTmpPath("snap-half"), d2.store.VolumeTmpPath("vol-half")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("leftover %s not cleaned at start", p)
		}
	}
}

func TestMountInfoHelpers(t *testing.T) {
	if got := unescapeMountPath(`/a\040b\011c\134d`); got != "/a b\tc\\d" {
		t.Errorf("unescape: %q", got)
	}
	mounts := []mountEntry{
		{major: 8, minor: 1, root: "/", mountPoint: "/"},
		{major: 8, minor: 2, root: "/", mountPoint: "/var"},
		{major: 8, minor: 2, root: "/lib/csi/volumes/vol-1", mountPoint: "/pods/p1/mount"},
		{major: 8, minor: 2, root: "/lib/csi/volumes/vol-1", mountPoint: "/pods/p2/mount", readOnly: true},
		{major: 8, minor: 1, root: "/var/lib/csi/volumes/vol-1", mountPoint: "/elsewhere"}, // other device
	}
	refs := mountRefsIn(mounts, "/var/lib/csi/volumes/vol-1")
	if strings.Join(refs, ",") != "/pods/p1/mount,/pods/p2/mount" {
		t.Errorf("refs: %v", refs)
	}
	if m, ok := mountAt(mounts, "/pods/p2/mount"); !ok || !m.readOnly {
		t.Errorf("mountAt: %v %v", m, ok)
	}
}

func TestRegistrationService(t *testing.T) {
	quietLogs(t)
	dir := t.TempDir()
	sock := registrationSocketPath(dir, "hostpath.csi.inferno.ops")
	lis, err := listenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewRegistrationServer("hostpath.csi.inferno.ops", "/run/x/csi.sock")
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := registerapi.NewRegistrationClient(conn)
	info, err := cl.GetInfo(context.Background(), &registerapi.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetType() != "CSIPlugin" || info.GetName() != "hostpath.csi.inferno.ops" || info.GetEndpoint() != "/run/x/csi.sock" ||
		len(info.GetSupportedVersions()) != 1 || info.GetSupportedVersions()[0] != "1.0.0" {
		t.Errorf("GetInfo: %v", info)
	}
	if _, err := cl.NotifyRegistrationStatus(context.Background(), &registerapi.RegistrationStatus{PluginRegistered: false, Error: "nope"}); err != nil {
		t.Error(err)
	}
}

func TestSocketPath(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///run/csi/csi.sock": "/run/csi/csi.sock",
		"unix:/run/csi/csi.sock":   "/run/csi/csi.sock",
		"/run/csi/csi.sock":        "/run/csi/csi.sock",
	} {
		if got, err := socketPath(in); err != nil || got != want {
			t.Errorf("socketPath(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"tcp://127.0.0.1:1", "unix://relative", "relative.sock"} {
		if _, err := socketPath(bad); err == nil {
			t.Errorf("socketPath(%q): want error", bad)
		}
	}
}
