package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func snapshotSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
}

func listSnapshotIDs(t *testing.T, c *controllerServer, req *csi.ListSnapshotsRequest) []string {
	t.Helper()
	resp, err := c.ListSnapshots(context.Background(), req)
	if err != nil {
		t.Fatalf("ListSnapshots %v: %v", req, err)
	}
	ids := []string{}
	for _, e := range resp.GetEntries() {
		ids = append(ids, e.GetSnapshot().GetSnapshotId())
	}
	return ids
}

// Two drivers (two clusters) share one snapshots directory, each with its own
// volumes: the second finds the first's snapshots taken after it started, by
// id and in a full listing, and restores them.
func TestSharedSnapshotStore(t *testing.T) {
	quietLogs(t)
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared-snapshots")
	a, ca := newTestDriverOn(t, filepath.Join(dir, "a-volumes"), shared)
	_, cb := newTestDriverOn(t, filepath.Join(dir, "b-volumes"), shared)

	vol := mustCreateVolume(t, ca, "data", nil)
	payload := []byte("taken by driver A\n")
	if err := os.WriteFile(filepath.Join(a.store.VolumePath(vol.GetVolumeId()), "file.txt"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := ca.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "backup", SourceVolumeId: vol.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	id := snap.GetSnapshot().GetSnapshotId()

	resp, err := cb.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{SnapshotId: id})
	if err != nil || len(resp.GetEntries()) != 1 {
		t.Fatalf("B's ListSnapshots(%s): want 1 entry, got %v, %v", id, resp, err)
	}
	if got := resp.GetEntries()[0].GetSnapshot(); got.GetSizeBytes() != vol.GetCapacityBytes() || !got.GetReadyToUse() ||
		got.GetSourceVolumeId() != vol.GetVolumeId() {
		t.Errorf("B's view of the snapshot: %v", got)
	}
	restored := mustCreateVolume(t, cb, "restored", snapshotSource(id))
	b := cb.d
	got, err := os.ReadFile(filepath.Join(b.store.VolumePath(restored.GetVolumeId()), "file.txt"))
	if err != nil || !bytes.Equal(got, payload) {
		t.Errorf("restored file: %q, %v; want %q", got, err, payload)
	}
	if _, err := os.Stat(a.store.VolumePath(restored.GetVolumeId())); err == nil {
		t.Errorf("B's volume landed in A's volumes directory")
	}

	// A second snapshot, first seen by B in a full listing rather than by id.
	second, err := ca.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "backup-2", SourceVolumeId: vol.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	all := listSnapshotIDs(t, cb, &csi.ListSnapshotsRequest{})
	if len(all) != 2 || all[0] != id || all[1] != second.GetSnapshot().GetSnapshotId() {
		t.Errorf("B's full listing: want [%s %s], got %v", id, second.GetSnapshot().GetSnapshotId(), all)
	}

	// The Store itself, as a third process opened now: loaded at start.
	s3, err := OpenStore(filepath.Join(dir, "c-volumes"), shared)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s3.GetSnapshot(second.GetSnapshot().GetSnapshotId()); !ok || len(s3.ListSnapshots()) != 2 {
		t.Errorf("a store opened later sees %d snapshots", len(s3.ListSnapshots()))
	}
}

// An unknown snapshot id is an empty list (CSI spec; csi-snapshotter turns it into
// "can not find snapshot") and NotFound for a restore; ids never reach outside the store.
func TestUnknownSnapshot(t *testing.T) {
	quietLogs(t)
	dir := t.TempDir()
	d, c := newTestDriver(t, dir)
	// A metadata file outside the snapshots directory that a path in the id would reach.
	outside := SnapshotMeta{ID: "../outside", Name: "outside", SourceVolumeID: "vol-x", SizeBytes: 1}
	if err := writeJSONAtomic(filepath.Join(dir, "outside.json"), outside); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "outside.tar"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"snap-00000000000000000000000000000000", "../outside", ".tmp-x", "a/b"} {
		if ids := listSnapshotIDs(t, c, &csi.ListSnapshotsRequest{SnapshotId: id}); len(ids) != 0 {
			t.Errorf("ListSnapshots(%q): want no entries, got %v", id, ids)
		}
		_, err := c.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
			Name: "from-" + filepath.Base(id), VolumeCapabilities: mountCap(), VolumeContentSource: snapshotSource(id)})
		if status.Code(err) != codes.NotFound {
			t.Errorf("CreateVolume from snapshot %q: want NotFound, got %v", id, err)
		}
	}
	// Metadata without its archive (an incomplete copy of a store) is no snapshot either.
	half := SnapshotMeta{ID: "snap-half", Name: "half", SourceVolumeID: "vol-x", SizeBytes: 1}
	if err := writeJSONAtomic(filepath.Join(d.store.snapDir, half.ID+metaSuffix), half); err != nil {
		t.Fatal(err)
	}
	if ids := listSnapshotIDs(t, c, &csi.ListSnapshotsRequest{SnapshotId: half.ID}); len(ids) != 0 {
		t.Errorf("ListSnapshots of a snapshot without archive: got %v", ids)
	}
}
