package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Fault injection for CreateSnapshot, driven by the VolumeSnapshotClass's
// parameters (passed through by csi-snapshotter).
const (
	paramInjectError     = "inferno.ops/inject-error"
	paramInjectErrorCode = "inferno.ops/inject-error-code"
	paramDelaySeconds    = "inferno.ops/delay-seconds"

	// Keys the Kubernetes sidecars add themselves; always ignored.
	sidecarParamPrefix = "csi.storage.k8s.io/"

	maxDelay = 24 * time.Hour
)

// snapshotFaults is the parsed fault-injection configuration of one request.
type snapshotFaults struct {
	injectError bool
	errCode     codes.Code
	errMessage  string
	delay       time.Duration
}

// parseSnapshotParameters validates CreateSnapshot parameters. Any error is an
// InvalidArgument status naming the offending parameter.
func parseSnapshotParameters(params map[string]string) (snapshotFaults, error) {
	f := snapshotFaults{errCode: codes.Internal}
	for k, v := range params {
		switch {
		case strings.HasPrefix(k, sidecarParamPrefix):
			// ignored
		case k == paramInjectError:
			f.injectError = true
			f.errMessage = v
			if f.errMessage == "" {
				f.errMessage = "injected fault"
			}
		case k == paramInjectErrorCode:
			c, ok := parseCode(v)
			if !ok {
				return f, status.Errorf(codes.InvalidArgument,
					"parameter %q: unknown gRPC code name %q (use e.g. Internal, ResourceExhausted, Unavailable)", k, v)
			}
			f.errCode = c
		case k == paramDelaySeconds:
			secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || secs <= 0 || secs > maxDelay.Seconds() {
				return f, status.Errorf(codes.InvalidArgument,
					"parameter %q: want a positive number of seconds (at most %v), got %q", k, maxDelay.Seconds(), v)
			}
			f.delay = time.Duration(secs * float64(time.Second))
		default:
			return f, status.Errorf(codes.InvalidArgument, "unknown parameter %q", k)
		}
	}
	return f, nil
}

// parseCode accepts gRPC code names as printed by codes.Code.String
// ("ResourceExhausted") and the canonical upper-snake form
// ("RESOURCE_EXHAUSTED"), case-insensitively. OK is not a valid fault.
func parseCode(name string) (codes.Code, bool) {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "")) }
	want := norm(name)
	if want == "" {
		return 0, false
	}
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		if norm(c.String()) == want {
			return c, true
		}
	}
	return 0, false
}

// err returns the injected error, or nil when none is configured.
func (f snapshotFaults) err() error {
	if !f.injectError {
		return nil
	}
	return status.Error(f.errCode, f.errMessage)
}

// sleep waits for the injected delay, returning early with a status error
// (DeadlineExceeded or Canceled) if ctx ends first.
func (f snapshotFaults) sleep(ctx context.Context) error {
	if f.delay <= 0 {
		return nil
	}
	t := time.NewTimer(f.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (f snapshotFaults) String() string {
	var parts []string
	if f.injectError {
		parts = append(parts, fmt.Sprintf("error=%s(%q)", f.errCode, f.errMessage))
	}
	if f.delay > 0 {
		parts = append(parts, fmt.Sprintf("delay=%v", f.delay))
	}
	return strings.Join(parts, " ")
}
