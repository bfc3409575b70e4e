package main

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func (s *scenario) containerState(ctx context.Context, step string) {
	st, err := s.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: s.ctrID})
	if s.r.fail(step, err) {
		return
	}
	s.r.set(step, map[string]interface{}{
		"state": st.Status.State.String(), "exitCode": st.Status.ExitCode, "image": st.Status.GetImage().GetImage(),
		"name": st.Status.GetMetadata().GetName(), "logPath": st.Status.LogPath,
	})
}

func (s *scenario) listContainers(ctx context.Context, step string, filter *runtimeapi.ContainerFilter) {
	res, err := s.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: filter})
	if s.r.fail(step, err) {
		return
	}
	ids := []string{}
	for _, c := range res.Containers {
		ids = append(ids, c.Id)
	}
	s.r.set(step, map[string]interface{}{"ids": ids})
}

func (s *scenario) listPods(ctx context.Context, step string, filter *runtimeapi.PodSandboxFilter) {
	res, err := s.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: filter})
	if s.r.fail(step, err) {
		return
	}
	ids := []string{}
	for _, p := range res.Items {
		ids = append(ids, p.Id)
	}
	s.r.set(step, map[string]interface{}{"ids": ids})
}
