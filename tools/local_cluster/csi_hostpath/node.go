package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type nodeServer struct {
	csi.UnimplementedNodeServer
	d *Driver
}

func (s *nodeServer) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: s.d.cfg.NodeID, MaxVolumesPerNode: s.d.cfg.MaxVolumesPerNode}, nil
}

func (s *nodeServer) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	var caps []*csi.NodeServiceCapability
	for _, t := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER,
	} {
		caps = append(caps, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}},
		})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

func (s *nodeServer) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	d := s.d
	id, target, vc := req.GetVolumeId(), req.GetTargetPath(), req.GetVolumeCapability()
	switch {
	case id == "":
		return nil, status.Error(codes.InvalidArgument, "volume id missing")
	case target == "":
		return nil, status.Error(codes.InvalidArgument, "target path missing")
	case vc == nil:
		return nil, status.Error(codes.InvalidArgument, "volume capability missing")
	}
	if p := capabilityProblem(vc); p != "" {
		return nil, status.Error(codes.InvalidArgument, p)
	}
	if _, ok := d.store.GetVolume(id); !ok {
		return nil, status.Errorf(codes.NotFound, "volume %q not found", id)
	}
	mode := vc.GetAccessMode().GetMode()
	readOnly := req.GetReadonly() ||
		mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY ||
		mode == csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
	src := d.store.VolumePath(id)

	d.nodeMu.Lock()
	defer d.nodeMu.Unlock()

	mounts, err := readMountInfo()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read mounts: %v", err)
	}
	targetReal := realPath(target)
	refs := mountRefsIn(mounts, src)
	already := false
	for _, r := range refs {
		if r == targetReal {
			already = true
		}
	}
	if already {
		m, _ := mountAt(mounts, target)
		if m.readOnly != readOnly {
			return nil, status.Errorf(codes.AlreadyExists,
				"volume %s is already published at %s with readonly=%v", id, target, m.readOnly)
		}
		return &csi.NodePublishVolumeResponse{}, nil
	}
	if _, isMount := mountAt(mounts, target); isMount {
		return nil, status.Errorf(codes.AlreadyExists, "target %s already has another filesystem mounted", target)
	}
	if mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER && len(refs) > 0 {
		return nil, status.Errorf(codes.FailedPrecondition,
			"volume %s has access mode SINGLE_NODE_SINGLE_WRITER and is already published at %s", id, strings.Join(refs, ", "))
	}

	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "create target %s: %v", target, err)
	}
	if err := bindMount(src, target, readOnly); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

func (s *nodeServer) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	d := s.d
	id, target := req.GetVolumeId(), req.GetTargetPath()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id missing")
	}
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target path missing")
	}
	d.nodeMu.Lock()
	defer d.nodeMu.Unlock()

	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		return &csi.NodeUnpublishVolumeResponse{}, nil
	}
	// Unmount everything stacked on the target (normally exactly one mount).
	for i := 0; ; i++ {
		mounts, err := readMountInfo()
		if err != nil {
			return nil, status.Errorf(codes.Internal, "read mounts: %v", err)
		}
		if _, ok := mountAt(mounts, target); !ok {
			break
		}
		if i >= 16 {
			return nil, status.Errorf(codes.Internal, "target %s is still mounted after %d unmounts", target, i)
		}
		if err := unix.Unmount(target, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return nil, status.Errorf(codes.Internal, "unmount %s: %v", target, err)
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "remove target %s: %v", target, err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

func (s *nodeServer) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	id, p := req.GetVolumeId(), req.GetVolumePath()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id missing")
	}
	if p == "" {
		return nil, status.Error(codes.InvalidArgument, "volume path missing")
	}
	if _, ok := s.d.store.GetVolume(id); !ok {
		return nil, status.Errorf(codes.NotFound, "volume %q not found", id)
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, status.Errorf(codes.NotFound, "volume path %q not found", p)
		}
		return nil, status.Errorf(codes.Internal, "stat %s: %v", p, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return nil, status.Errorf(codes.Internal, "statfs %s: %v", p, err)
	}
	bs := int64(st.Bsize)
	// Figures are those of the filesystem holding the volumes dir (volumes are
	// plain directories, their capacity is not enforced).
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{
			Unit:      csi.VolumeUsage_BYTES,
			Total:     int64(st.Blocks) * bs,
			Available: int64(st.Bavail) * bs,
			Used:      int64(st.Blocks-st.Bfree) * bs,
		},
		{
			Unit:      csi.VolumeUsage_INODES,
			Total:     int64(st.Files),
			Available: int64(st.Ffree),
			Used:      int64(st.Files - st.Ffree),
		},
	}}, nil
}
