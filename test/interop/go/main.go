// Command cri-interop drives crimux's CRI socket with grpc-go, dialling exactly as the kubelet does, and prints
// what each call returned as one JSON object on stdout (test/interop/go-client.test.ts checks it).
//
//	cri-interop -socket /run/crimux/crimux.sock [-authority localhost] [-version-only | -bench-version N] -pause REF -busybox REF -logdir DIR
//
// Without -authority the HTTP/2 :authority is the socket path (kubelet <= 1.30 and crictl <= 1.30);
// -authority localhost is what kubelet >= 1.31 adds.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The kubelet's limit for CRI messages in both directions (pkg/kubelet/cri/remote).
const maxMsgSize = 16 * 1024 * 1024

type report struct {
	Results map[string]interface{} `json:"results"`
	Errors  map[string]string      `json:"errors"`
}

func (r *report) set(step string, v interface{}) { r.Results[step] = v }

// fail records a call's error as "CODE: message"; it returns true when err is non-nil.
func (r *report) fail(step string, err error) bool {
	if err == nil {
		return false
	}
	r.Errors[step] = fmt.Sprintf("%s: %s", status.Code(err), status.Convert(err).Message())
	return true
}

func main() {
	socket := flag.String("socket", "", "CRI unix socket path")
	authority := flag.String("authority", "", "override the :authority (kubelet >= 1.31 uses localhost)")
	pause := flag.String("pause", "registry.k8s.io/pause:3.9", "pause image")
	busybox := flag.String("busybox", "docker.io/library/busybox:1.36", "busybox image")
	logDir := flag.String("logdir", "/tmp", "pod log directory root")
	versionOnly := flag.Bool("version-only", false, "call Version only (a probe of the connection itself)")
	benchN := flag.Int("bench-version", 0, "time this many Version calls and print {\"latenciesUs\": [...]} instead")
	benchAgainst := flag.String("bench-against", "", "with -bench-version: alternate each call with one on this socket (authority localhost); prints {\"latenciesUs\", \"againstUs\"}")
	benchRPCs := flag.String("bench-rpcs", "", "comma-separated RPCs to time side by side (with -bench-n, -bench-against, -image); prints {\"rpcs\": {name: {\"us\": [[...], [...]], \"items\": [..]}}}")
	benchCount := flag.Int("bench-n", 1000, "with -bench-rpcs: timed calls per RPC and runtime")
	image := flag.String("image", "", "with -bench-rpcs: the image ImageStatus asks about")
	benchWarmup := flag.Int("bench-warmup", 0, "with -bench-rpcs: this many Version calls per runtime first, untimed (the transport's code paths warm before the first timed RPC)")
	benchBlocks := flag.Int("bench-blocks", 0, "with -bench-rpcs: instead of alternating call by call, time each runtime's calls back to back, in this many rounds with the order rotating")
	flag.Parse()

	base := []grpc.DialOption{
		grpc.WithInsecure(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)),
	}
	opts := append([]grpc.DialOption{}, base...)
	if *authority != "" {
		opts = append(opts, grpc.WithAuthority(*authority))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := grpc.DialContext(ctx, *socket, append(opts, grpc.WithBlock())...)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()

	if *benchRPCs != "" {
		targets := []*target{{rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn)}}
		if *benchAgainst != "" {
			other, err := grpc.Dial(*benchAgainst, append(base, grpc.WithAuthority("localhost"))...)
			if err != nil {
				fmt.Fprintln(os.Stderr, "dial:", err)
				os.Exit(2)
			}
			defer other.Close()
			targets = append(targets, &target{rt: runtimeapi.NewRuntimeServiceClient(other), img: runtimeapi.NewImageServiceClient(other)})
		}
		for _, t := range targets {
			if err := t.prepare(); err != nil {
				fmt.Fprintln(os.Stderr, "prepare:", err)
				os.Exit(4)
			}
		}
		if *benchWarmup > 0 {
			benchRPCBlocks(targets, "Version", *image, *benchWarmup, 1)
		}
		res := map[string]interface{}{}
		for _, rpc := range strings.Split(*benchRPCs, ",") {
			var us [][]float64
			var items []int
			if *benchBlocks > 0 {
				us, items = benchRPCBlocks(targets, rpc, *image, *benchCount, *benchBlocks)
			} else {
				us, items = benchRPC(targets, rpc, *image, *benchCount)
			}
			res[rpc] = map[string]interface{}{"us": us, "items": items}
		}
		_ = json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"rpcs": res})
		return
	}
	if *benchN > 0 {
		clients := []runtimeapi.RuntimeServiceClient{runtimeapi.NewRuntimeServiceClient(conn)}
		if *benchAgainst != "" {
			other, err := grpc.Dial(*benchAgainst, append(base, grpc.WithAuthority("localhost"))...)
			if err != nil {
				fmt.Fprintln(os.Stderr, "dial:", err)
				os.Exit(2)
			}
			defer other.Close()
			clients = append(clients, runtimeapi.NewRuntimeServiceClient(other))
		}
		lat := benchVersion(clients, *benchN)
		_ = json.NewEncoder(os.Stdout).Encode(map[string][]int64{"latenciesUs": lat[0], "againstUs": lat[1]})
		return
	}
	r := &report{Results: map[string]interface{}{}, Errors: map[string]string{}}
	s := &scenario{
		r:       r,
		rt:      runtimeapi.NewRuntimeServiceClient(conn),
		img:     runtimeapi.NewImageServiceClient(conn),
		pause:   *pause,
		busybox: *busybox,
		logDir:  *logDir,
	}
	if *versionOnly {
		s.runtimeVersion()
	} else {
		s.run()
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		os.Exit(3)
	}
}

// call gives one CRI call the kubelet's default runtime request timeout.
func call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// benchVersion times n sequential Version calls per client (after a warm-up), alternating between the clients
// call by call so load on the machine hits them alike; latencies in microseconds, one slice per client.
func benchVersion(clients []runtimeapi.RuntimeServiceClient, n int) [2][]int64 {
	var out [2][]int64
	for i := -n / 5; i < n; i++ {
		for k, rt := range clients {
			ctx, cancel := call()
			t := time.Now()
			_, err := rt.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
			cancel()
			if err != nil {
				fmt.Fprintln(os.Stderr, "Version:", err)
				os.Exit(4)
			}
			if i >= 0 {
				out[k] = append(out[k], time.Since(t).Microseconds())
			}
		}
	}
	return out
}
