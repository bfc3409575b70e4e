package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// scenario walks the CRI surface in the order a kubelet uses it for one pod, recording every answer.
type scenario struct {
	r                      *report
	rt                     runtimeapi.RuntimeServiceClient
	img                    runtimeapi.ImageServiceClient
	pause, busybox, logDir string

	pod       *runtimeapi.PodSandboxConfig
	podID     string
	ctrID     string
	eventsMu  sync.Mutex
	events    []map[string]interface{}
	stopWatch context.CancelFunc
	watchDone chan struct{}
}

func (s *scenario) run() {
	s.runtimeInfo()
	s.watchEvents()
	uid := fmt.Sprintf("interop-%d", time.Now().UnixNano())
	// A pod name of 60+ characters, as generated names of Deployments' pods often are.
	name := "interop-" + strings.Repeat("abcdefghij", 6)
	// Hostname left empty, as the kubelet may send it: the runtime uses the node's hostname.
	s.pod = &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: uid, Namespace: "default"},
		LogDirectory: s.logDir + "/default_" + name + "_" + uid,
		Labels:       map[string]string{"interop": uid},
	}
	s.images()
	if s.sandbox() && s.container() {
		s.execAndStats()
		s.bigMessages()
		s.teardownContainer()
	}
	s.teardownSandbox()
	s.removeImage()
	s.stopEvents()
}

func (s *scenario) runtimeVersion() {
	ctx, cancel := call()
	defer cancel()
	if v, err := s.rt.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"}); !s.r.fail("Version", err) {
		s.r.set("Version", map[string]string{"runtimeName": v.RuntimeName, "runtimeApiVersion": v.RuntimeApiVersion, "version": v.Version})
	}
}

func (s *scenario) runtimeInfo() {
	s.runtimeVersion()
	ctx, cancel := call()
	defer cancel()
	if st, err := s.rt.Status(ctx, &runtimeapi.StatusRequest{Verbose: true}); !s.r.fail("Status", err) {
		conds := map[string]bool{}
		for _, c := range st.GetStatus().GetConditions() {
			conds[c.Type] = c.Status
		}
		keys := []string{}
		for k := range st.Info {
			keys = append(keys, k)
		}
		s.r.set("Status", map[string]interface{}{"conditions": conds, "infoKeys": keys})
	}
	if rc, err := s.rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{}); !s.r.fail("RuntimeConfig", err) {
		s.r.set("RuntimeConfig", map[string]string{"cgroupDriver": rc.GetLinux().GetCgroupDriver().String()})
	}
}

// watchEvents opens the server stream GetContainerEvents as the kubelet's evented PLEG does.
func (s *scenario) watchEvents() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	s.watchDone = make(chan struct{})
	stream, err := s.rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if s.r.fail("GetContainerEvents", err) {
		close(s.watchDone)
		return
	}
	go func() {
		defer close(s.watchDone)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			s.eventsMu.Lock()
			s.events = append(s.events, map[string]interface{}{
				"containerId": ev.ContainerId,
				"type":        ev.ContainerEventType.String(),
				"podId":       ev.GetPodSandboxStatus().GetId(),
			})
			s.eventsMu.Unlock()
		}
	}()
}

func (s *scenario) stopEvents() {
	// Give the last events (the container's removal) a moment to arrive before closing the stream.
	time.Sleep(500 * time.Millisecond)
	s.stopWatch()
	<-s.watchDone
	s.eventsMu.Lock()
	defer s.eventsMu.Unlock()
	s.r.set("GetContainerEvents", s.events)
}

func (s *scenario) images() {
	ctx, cancel := call()
	defer cancel()
	for step, ref := range map[string]string{"PullImage.pause": s.pause, "PullImage.busybox": s.busybox} {
		// As the kubelet pulls: no runtime handler in the ImageSpec, the pod's config alongside.
		res, err := s.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}, SandboxConfig: s.pod})
		if !s.r.fail(step, err) {
			s.r.set(step, map[string]string{"imageRef": res.ImageRef})
		}
	}
	if st, err := s.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: s.busybox}}); !s.r.fail("ImageStatus", err) {
		s.r.set("ImageStatus", map[string]interface{}{"id": st.GetImage().GetId(), "size": st.GetImage().GetSize(), "repoTags": st.GetImage().GetRepoTags()})
	}
	if list, err := s.img.ListImages(ctx, &runtimeapi.ListImagesRequest{}); !s.r.fail("ListImages", err) {
		tags := []string{}
		for _, im := range list.Images {
			tags = append(tags, im.RepoTags...)
		}
		s.r.set("ListImages", map[string]interface{}{"count": len(list.Images), "repoTags": tags})
	}
	if fs, err := s.img.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{}); !s.r.fail("ImageFsInfo", err) {
		mounts := []string{}
		for _, f := range fs.ImageFilesystems {
			mounts = append(mounts, f.GetFsId().GetMountpoint())
		}
		s.r.set("ImageFsInfo", map[string]interface{}{"imageFilesystems": len(fs.ImageFilesystems), "mountpoints": mounts})
	}
}

func (s *scenario) removeImage() {
	ctx, cancel := call()
	defer cancel()
	spec := &runtimeapi.ImageSpec{Image: s.busybox}
	if _, err := s.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); s.r.fail("RemoveImage", err) {
		return
	}
	if st, err := s.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec}); !s.r.fail("ImageStatus.afterRemove", err) {
		s.r.set("ImageStatus.afterRemove", map[string]bool{"present": st.Image != nil})
	}
}
