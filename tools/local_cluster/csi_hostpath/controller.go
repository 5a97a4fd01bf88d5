package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const defaultCapacityBytes = 1 << 30 // 1 GiB

// All access modes that make sense on a single host with bind mounts.
var supportedAccessModes = map[csi.VolumeCapability_AccessMode_Mode]bool{
	csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER:        true,
	csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER: true,
	csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:  true,
	csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY:   true,
	csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:    true,
	csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:   true,
}

// capabilityProblem explains why a capability is unsupported ("" if it is fine).
func capabilityProblem(c *csi.VolumeCapability) string {
	switch {
	case c == nil:
		return "empty volume capability"
	case c.GetBlock() != nil:
		return "block access type is not supported (only mount)"
	case c.GetMount() == nil:
		return "access type missing (only mount is supported)"
	case c.GetAccessMode() == nil:
		return "access mode missing"
	case !supportedAccessModes[c.GetAccessMode().GetMode()]:
		return fmt.Sprintf("access mode %s is not supported", c.GetAccessMode().GetMode())
	}
	return ""
}

func capabilitiesProblem(caps []*csi.VolumeCapability) string {
	for _, c := range caps {
		if p := capabilityProblem(c); p != "" {
			return p
		}
	}
	return ""
}

type controllerServer struct {
	csi.UnimplementedControllerServer
	d *Driver
}

func (s *controllerServer) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

func volumeResponse(v VolumeMeta) *csi.Volume {
	vol := &csi.Volume{VolumeId: v.ID, CapacityBytes: v.CapacityBytes}
	switch {
	case v.SourceSnapshotID != "":
		vol.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: v.SourceSnapshotID}}}
	case v.SourceVolumeID != "":
		vol.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: v.SourceVolumeID}}}
	}
	return vol
}

func snapshotResponse(sn SnapshotMeta) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     sn.ID,
		SourceVolumeId: sn.SourceVolumeID,
		SizeBytes:      sn.SizeBytes,
		CreationTime:   timestamppb.New(sn.CreatedAt),
		ReadyToUse:     true,
	}
}

func (s *controllerServer) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	d := s.d
	name := req.GetName()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "name missing")
	}
	caps := req.GetVolumeCapabilities()
	if len(caps) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume capabilities missing")
	}
	if p := capabilitiesProblem(caps); p != "" {
		return nil, status.Error(codes.InvalidArgument, p)
	}
	required, limit := req.GetCapacityRange().GetRequiredBytes(), req.GetCapacityRange().GetLimitBytes()
	if required < 0 || limit < 0 {
		return nil, status.Error(codes.InvalidArgument, "capacity range must not be negative")
	}
	if limit > 0 && required > limit {
		return nil, status.Errorf(codes.InvalidArgument, "required_bytes %d exceeds limit_bytes %d", required, limit)
	}
	var srcSnap, srcVol string
	if cs := req.GetVolumeContentSource(); cs != nil {
		switch {
		case cs.GetSnapshot() != nil:
			if srcSnap = cs.GetSnapshot().GetSnapshotId(); srcSnap == "" {
				return nil, status.Error(codes.InvalidArgument, "content source snapshot id missing")
			}
		case cs.GetVolume() != nil:
			if srcVol = cs.GetVolume().GetVolumeId(); srcVol == "" {
				return nil, status.Error(codes.InvalidArgument, "content source volume id missing")
			}
		default:
			return nil, status.Error(codes.InvalidArgument, "unsupported volume content source")
		}
	}

	d.ctrlMu.Lock()
	if v, ok := d.store.VolumeByName(name); ok {
		d.ctrlMu.Unlock()
		if (required > 0 && v.CapacityBytes < required) || (limit > 0 && v.CapacityBytes > limit) {
			return nil, status.Errorf(codes.AlreadyExists,
				"volume %q exists (%s) with capacity %d, incompatible with the requested range [%d, %d]",
				name, v.ID, v.CapacityBytes, required, limit)
		}
		if v.SourceSnapshotID != srcSnap || v.SourceVolumeID != srcVol {
			return nil, status.Errorf(codes.AlreadyExists, "volume %q exists (%s) with a different content source", name, v.ID)
		}
		return &csi.CreateVolumeResponse{Volume: volumeResponse(v)}, nil
	}
	pendingKey := "vol:" + name
	if d.pending[pendingKey] {
		d.ctrlMu.Unlock()
		return nil, status.Errorf(codes.Aborted, "creation of volume %q is already in progress", name)
	}

	var srcSize int64
	var archive, busyKey string
	switch {
	case srcSnap != "":
		sn, ok := d.store.GetSnapshot(srcSnap)
		if !ok {
			d.ctrlMu.Unlock()
			return nil, status.Errorf(codes.NotFound, "source snapshot %q not found", srcSnap)
		}
		srcSize, archive, busyKey = sn.SizeBytes, d.store.SnapshotPath(sn.ID), "snap:"+sn.ID
	case srcVol != "":
		v, ok := d.store.GetVolume(srcVol)
		if !ok {
			d.ctrlMu.Unlock()
			return nil, status.Errorf(codes.NotFound, "source volume %q not found", srcVol)
		}
		srcSize, busyKey = v.CapacityBytes, "vol:"+v.ID
	}
	if (required > 0 && required < srcSize) || (limit > 0 && limit < srcSize) {
		d.ctrlMu.Unlock()
		return nil, status.Errorf(codes.OutOfRange,
			"requested capacity [%d, %d] is smaller than the source's size %d", required, limit, srcSize)
	}
	capacity := required
	switch {
	case capacity > 0:
	case srcSize > 0:
		capacity = srcSize
	case limit > 0:
		capacity = limit
	default:
		capacity = defaultCapacityBytes
	}

	id := newID("vol-")
	d.pending[pendingKey] = true
	if busyKey != "" {
		d.busy[busyKey]++
	}
	d.ctrlMu.Unlock()

	// The data work runs without the controller lock.
	final := d.store.VolumePath(id)
	var err error
	switch {
	case srcSnap != "":
		err = restoreArchive(archive, d.store.VolumeTmpPath(id), final)
	case srcVol != "":
		err = cloneDir(d.store.VolumePath(srcVol), d.store.VolumeTmpPath(id), final)
	default:
		if err = os.Mkdir(final, 0o777); err == nil {
			// World-writable like other hostpath drivers, so pods running as
			// any uid can write; umask does not apply to Chmod.
			err = os.Chmod(final, 0o777)
		}
	}

	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	delete(d.pending, pendingKey)
	if busyKey != "" {
		if d.busy[busyKey]--; d.busy[busyKey] <= 0 {
			delete(d.busy, busyKey)
		}
	}
	if err != nil {
		os.RemoveAll(final)
		return nil, status.Errorf(codes.Internal, "populate volume %s: %v", id, err)
	}
	meta := VolumeMeta{
		ID:               id,
		Name:             name,
		CapacityBytes:    capacity,
		CreatedAt:        time.Now().UTC(),
		SourceSnapshotID: srcSnap,
		SourceVolumeID:   srcVol,
	}
	if err := d.store.PutVolume(meta); err != nil {
		os.RemoveAll(final)
		return nil, status.Errorf(codes.Internal, "save volume metadata: %v", err)
	}
	return &csi.CreateVolumeResponse{Volume: volumeResponse(meta)}, nil
}

func (s *controllerServer) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	d := s.d
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id missing")
	}
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	if _, ok := d.store.GetVolume(id); !ok {
		return &csi.DeleteVolumeResponse{}, nil
	}
	if d.busy["vol:"+id] > 0 {
		return nil, status.Errorf(codes.Aborted, "volume %s is being copied (snapshot or clone in progress)", id)
	}
	refs, err := mountRefs(d.store.VolumePath(id))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "check mounts of volume %s: %v", id, err)
	}
	if len(refs) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s is still published at %s", id, strings.Join(refs, ", "))
	}
	if err := d.store.DeleteVolume(id); err != nil {
		return nil, status.Errorf(codes.Internal, "delete volume %s: %v", id, err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (s *controllerServer) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id missing")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume capabilities missing")
	}
	if _, ok := s.d.store.GetVolume(req.GetVolumeId()); !ok {
		return nil, status.Errorf(codes.NotFound, "volume %q not found", req.GetVolumeId())
	}
	if p := capabilitiesProblem(req.GetVolumeCapabilities()); p != "" {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: p}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{
		Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
			VolumeContext:      req.GetVolumeContext(),
			VolumeCapabilities: req.GetVolumeCapabilities(),
			Parameters:         req.GetParameters(),
		},
	}, nil
}

// page applies CSI max_entries/starting_token pagination to n items. Tokens are
// decimal offsets into the (stable-ordered) list.
func page(n int, maxEntries int32, token string) (start, end int, next string, err error) {
	if maxEntries < 0 {
		return 0, 0, "", status.Error(codes.InvalidArgument, "max_entries must not be negative")
	}
	if token != "" {
		start, err = strconv.Atoi(token)
		if err != nil || start < 0 || start > n {
			return 0, 0, "", status.Errorf(codes.Aborted, "invalid starting_token %q", token)
		}
	}
	end = n
	if maxEntries > 0 && start+int(maxEntries) < n {
		end = start + int(maxEntries)
		next = strconv.Itoa(end)
	}
	return start, end, next, nil
}

func (s *controllerServer) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	all := s.d.store.ListVolumes()
	start, end, next, err := page(len(all), req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListVolumesResponse{NextToken: next}
	for _, v := range all[start:end] {
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{Volume: volumeResponse(v)})
	}
	return resp, nil
}

func (s *controllerServer) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	d := s.d
	name, source := req.GetName(), req.GetSourceVolumeId()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "name missing")
	}
	if source == "" {
		return nil, status.Error(codes.InvalidArgument, "source volume id missing")
	}
	faults, err := parseSnapshotParameters(req.GetParameters())
	if err != nil {
		return nil, err
	}

	// existing returns the response for an already taken snapshot of this name.
	existing := func() (*csi.CreateSnapshotResponse, bool, error) {
		sn, ok := d.store.SnapshotByName(name)
		if !ok {
			return nil, false, nil
		}
		if sn.SourceVolumeID != source {
			return nil, true, status.Errorf(codes.AlreadyExists,
				"snapshot %q exists (%s) for a different source volume %s", name, sn.ID, sn.SourceVolumeID)
		}
		return &csi.CreateSnapshotResponse{Snapshot: snapshotResponse(sn)}, true, nil
	}

	d.ctrlMu.Lock()
	if resp, ok, err := existing(); ok {
		d.ctrlMu.Unlock()
		return resp, err
	}
	_, srcOK := d.store.GetVolume(source)
	d.ctrlMu.Unlock()
	if !srcOK {
		return nil, status.Errorf(codes.NotFound, "source volume %q not found", source)
	}

	// Faults apply only to taking a new snapshot, outside the lock.
	if err := faults.err(); err != nil {
		return nil, err
	}
	if err := faults.sleep(ctx); err != nil {
		return nil, err
	}

	d.ctrlMu.Lock()
	if resp, ok, err := existing(); ok {
		d.ctrlMu.Unlock()
		return resp, err
	}
	pendingKey := "snap:" + name
	if d.pending[pendingKey] {
		d.ctrlMu.Unlock()
		return nil, status.Errorf(codes.Aborted, "snapshot %q is already being taken", name)
	}
	vol, ok := d.store.GetVolume(source)
	if !ok {
		d.ctrlMu.Unlock()
		return nil, status.Errorf(codes.NotFound, "source volume %q not found", source)
	}
	id := newID("snap-")
	d.pending[pendingKey] = true
	d.busy["vol:"+source]++
	takenAt := time.Now().UTC()
	d.ctrlMu.Unlock()

	// The archive is written without the controller lock. It is not aborted
	// when ctx ends: a retry finds it pending (Aborted) and later complete.
	archiveSize, err := createArchive(d.store.VolumePath(source), d.store.SnapshotTmpPath(id), d.store.SnapshotPath(id))

	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	delete(d.pending, pendingKey)
	if d.busy["vol:"+source]--; d.busy["vol:"+source] <= 0 {
		delete(d.busy, "vol:"+source)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "archive volume %s: %v", source, err)
	}
	sn := SnapshotMeta{
		ID:             id,
		Name:           name,
		SourceVolumeID: source,
		SizeBytes:      vol.CapacityBytes,
		ArchiveBytes:   archiveSize,
		CreatedAt:      takenAt,
	}
	if err := d.store.PutSnapshot(sn); err != nil {
		os.Remove(d.store.SnapshotPath(id))
		return nil, status.Errorf(codes.Internal, "save snapshot metadata: %v", err)
	}
	return &csi.CreateSnapshotResponse{Snapshot: snapshotResponse(sn)}, nil
}

func (s *controllerServer) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	d := s.d
	id := req.GetSnapshotId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot id missing")
	}
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	if _, ok := d.store.GetSnapshot(id); !ok {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	if d.busy["snap:"+id] > 0 {
		return nil, status.Errorf(codes.Aborted, "snapshot %s is being restored", id)
	}
	if err := d.store.DeleteSnapshot(id); err != nil {
		return nil, status.Errorf(codes.Internal, "delete snapshot %s: %v", id, err)
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

func (s *controllerServer) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	// By id: one lookup, which also finds a snapshot another driver process wrote
	// into a shared snapshots directory. An unknown id gives an empty list, as the
	// CSI spec asks (csi-snapshotter then reports "can not find snapshot").
	var candidates, matched []SnapshotMeta
	if id := req.GetSnapshotId(); id != "" {
		if sn, ok := s.d.store.GetSnapshot(id); ok {
			candidates = []SnapshotMeta{sn}
		}
	} else {
		candidates = s.d.store.ListSnapshots()
	}
	for _, sn := range candidates {
		if req.GetSourceVolumeId() != "" && sn.SourceVolumeID != req.GetSourceVolumeId() {
			continue
		}
		matched = append(matched, sn)
	}
	start, end, next, err := page(len(matched), req.GetMaxEntries(), req.GetStartingToken())
	if err != nil {
		return nil, err
	}
	resp := &csi.ListSnapshotsResponse{NextToken: next}
	for _, sn := range matched[start:end] {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: snapshotResponse(sn)})
	}
	return resp, nil
}
