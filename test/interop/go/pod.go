package main

import (
	"strings"

	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func (s *scenario) sandbox() bool {
	ctx, cancel := call()
	defer cancel()
	res, err := s.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: s.pod, RuntimeHandler: "runc"})
	if s.r.fail("RunPodSandbox", err) {
		return false
	}
	s.podID = res.PodSandboxId
	s.r.set("RunPodSandbox", map[string]string{"podSandboxId": s.podID})
	if st, err := s.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: s.podID, Verbose: true}); !s.r.fail("PodSandboxStatus", err) {
		s.r.set("PodSandboxStatus", map[string]interface{}{
			"id": st.Status.Id, "state": st.Status.State.String(), "name": st.Status.GetMetadata().GetName(),
			"runtimeHandler": st.Status.RuntimeHandler, "ip": st.Status.GetNetwork().GetIp(), "verboseInfo": len(st.Info) > 0,
		})
	}
	byLabel := &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"interop": s.pod.Metadata.Uid}}
	ready := &runtimeapi.PodSandboxFilter{Id: s.podID, State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}
	s.listPods(ctx, "ListPodSandbox.byLabel", byLabel)
	s.listPods(ctx, "ListPodSandbox.readyById", ready)
	return true
}

func (s *scenario) container() bool {
	ctx, cancel := call()
	defer cancel()
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
		Image:    &runtimeapi.ImageSpec{Image: s.busybox},
		Command:  []string{"sleep", "3600"},
		LogPath:  "app/0.log",
		Labels:   map[string]string{"role": "app"},
	}
	res, err := s.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: s.podID, Config: cfg, SandboxConfig: s.pod})
	if s.r.fail("CreateContainer", err) {
		return false
	}
	s.ctrID = res.ContainerId
	s.r.set("CreateContainer", map[string]string{"containerId": s.ctrID})
	s.containerState(ctx, "ContainerStatus.created")
	if _, err := s.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: s.ctrID}); s.r.fail("StartContainer", err) {
		return false
	}
	s.containerState(ctx, "ContainerStatus.running")
	running := &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}
	exited := &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_EXITED}
	s.listContainers(ctx, "ListContainers.runningInPodWithLabel", &runtimeapi.ContainerFilter{
		PodSandboxId: s.podID, State: running, LabelSelector: map[string]string{"role": "app"},
	})
	s.listContainers(ctx, "ListContainers.byId", &runtimeapi.ContainerFilter{Id: s.ctrID})
	s.listContainers(ctx, "ListContainers.exitedInPod", &runtimeapi.ContainerFilter{PodSandboxId: s.podID, State: exited})
	s.listContainers(ctx, "ListContainers.otherLabel", &runtimeapi.ContainerFilter{PodSandboxId: s.podID, LabelSelector: map[string]string{"role": "db"}})
	return true
}

func (s *scenario) execAndStats() {
	ctx, cancel := call()
	defer cancel()
	if res, err := s.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: s.ctrID, Cmd: []string{"echo", "hello from grpc-go"}, Timeout: 30}); !s.r.fail("ExecSync", err) {
		s.r.set("ExecSync", map[string]interface{}{"stdout": string(res.Stdout), "exitCode": res.ExitCode})
	}
	if res, err := s.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: s.ctrID, Cmd: []string{"sh", "-c", "exit 3"}, Timeout: 30}); !s.r.fail("ExecSync.exit3", err) {
		s.r.set("ExecSync.exit3", map[string]interface{}{"exitCode": res.ExitCode})
	}
	if res, err := s.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: s.ctrID}); !s.r.fail("ContainerStats", err) {
		s.r.set("ContainerStats", map[string]interface{}{
			"id": res.GetStats().GetAttributes().GetId(), "hasCpu": res.GetStats().GetCpu() != nil, "hasMemory": res.GetStats().GetMemory() != nil,
		})
	}
	filter := &runtimeapi.ContainerStatsFilter{PodSandboxId: s.podID}
	if res, err := s.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: filter}); !s.r.fail("ListContainerStats", err) {
		ids := []string{}
		for _, st := range res.Stats {
			ids = append(ids, st.GetAttributes().GetId())
		}
		s.r.set("ListContainerStats", map[string]interface{}{"ids": ids})
	}
}

// bigMessages sends and receives messages just under the kubelet's 16 MiB limit.
func (s *scenario) bigMessages() {
	ctx, cancel := call()
	defer cancel()
	// A reply of ~15.4 MiB: 8 MiB on stdout (the runc backend's per-stream cap) and 7.4 MiB on stderr.
	script := "head -c 8388608 /dev/zero; head -c 7800000 /dev/zero >&2"
	if res, err := s.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: s.ctrID, Cmd: []string{"sh", "-c", script}, Timeout: 60}); !s.r.fail("ExecSync.big", err) {
		s.r.set("ExecSync.big", map[string]interface{}{"stdoutBytes": len(res.Stdout), "stderrBytes": len(res.Stderr), "exitCode": res.ExitCode})
	}
	// A request of ~15.9 MiB: a label selector no container matches.
	huge := strings.Repeat("x", 16*1024*1024-200*1024)
	filter := &runtimeapi.ContainerFilter{PodSandboxId: s.podID, LabelSelector: map[string]string{"huge": huge}}
	if res, err := s.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: filter}); !s.r.fail("ListContainers.big", err) {
		s.r.set("ListContainers.big", map[string]interface{}{"requestBytes": len(huge), "count": len(res.Containers)})
	}
}

func (s *scenario) teardownContainer() {
	ctx, cancel := call()
	defer cancel()
	if _, err := s.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: s.ctrID, Timeout: 2}); s.r.fail("StopContainer", err) {
		return
	}
	s.containerState(ctx, "ContainerStatus.exited")
	if _, err := s.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: s.ctrID}); s.r.fail("RemoveContainer", err) {
		return
	}
	_, err := s.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: s.ctrID})
	s.r.set("ContainerStatus.removed", map[string]string{"code": status.Code(err).String()})
}

func (s *scenario) teardownSandbox() {
	if s.podID == "" {
		return
	}
	ctx, cancel := call()
	defer cancel()
	if _, err := s.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.podID}); s.r.fail("StopPodSandbox", err) {
		return
	}
	if st, err := s.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: s.podID}); !s.r.fail("PodSandboxStatus.stopped", err) {
		s.r.set("PodSandboxStatus.stopped", map[string]string{"state": st.Status.State.String()})
	}
	if _, err := s.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.podID}); s.r.fail("RemovePodSandbox", err) {
		return
	}
	s.listPods(ctx, "ListPodSandbox.afterRemove", &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"interop": s.pod.Metadata.Uid}})
}
