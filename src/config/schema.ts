/**
 * crimux's configuration schema (convict). Every key carries its doc, format, default and environment variable;
 * `crimux config check FILE` and the README's reference are generated from this one place.
 */
import { runcConfigSchema } from '../backends/runc/config';
import { vmConfigSchema } from '../backends/vm/config';
import { dockerConfigSchema } from '../backends/docker/config';
import { rktConfigSchema } from '../backends/rkt/config';
import { handlersFormat, platformFormat, registriesFormat, rulesFormat, policyFormat } from './formats';

export const configSchema = {
  socket: {
    path: {
      doc: 'Unix socket the CRI gRPC server listens on (the kubelet --container-runtime-endpoint); empty means <runDir>/crimux.sock (/run/crimux/crimux.sock by default).',
      format: String,
      default: '',
      env: 'CRIMUX_SOCKET',
    },
    group: {
      doc: 'Group (name or numeric gid) owning the socket; empty keeps root. The socket mode is always 0660.',
      format: String,
      default: '',
      env: 'CRIMUX_SOCKET_GROUP',
    },
    maxMessageBytes: {
      doc: 'Largest gRPC message accepted or sent, both ways (the kubelet uses 16 MiB).',
      format: 'nat',
      default: 16 * 1024 * 1024,
      env: 'CRIMUX_MAX_MESSAGE_BYTES',
    },
  },
  server: {
    transport: {
      doc: 'gRPC server behind the CRI socket: "lean" (crimux\'s own gRPC layer, src/cri/direct/, on its own HTTP/2 server, src/cri/h2/: per call about containerd\'s cost, any :authority accepted), "direct" (the same gRPC layer on node:http2) or "grpc-js" (@grpc/grpc-js\'s server); the last two take old kubelets\' socket-path :authority through a frame filter.',
      format: ['grpc-js', 'direct', 'lean'],
      default: 'lean',
      env: 'CRIMUX_SERVER_TRANSPORT',
    },
  },
  stateDir: {
    doc: 'Durable state: the ownership store, image content, backend records.',
    format: String,
    default: '/var/lib/crimux',
    env: 'CRIMUX_STATE_DIR',
  },
  stateDurability: {
    doc: 'Ownership store durability: "normal" survives any crimux crash (reconcile repairs the rest after a power loss); "full" also fsyncs every write.',
    format: ['normal', 'full'],
    default: 'normal',
    env: 'CRIMUX_STATE_DURABILITY',
  },
  runDir: {
    doc: 'Volatile runtime state: sockets, pid files, network namespaces.',
    format: String,
    default: '/run/crimux',
    env: 'CRIMUX_RUN_DIR',
  },
  spawnHelper: {
    doc: "The crimux-spawn helper that starts every host command (runc, tar, zstd, ip …) so the daemon never forks itself (a fork of the daemon costs more the bigger it is and blocks every RPC meanwhile). Built by scripts/build-native.sh; empty, or missing, means Node's own spawn.",
    format: String,
    default: '/usr/local/libexec/crimux/crimux-spawn',
    env: 'CRIMUX_SPAWN_HELPER',
  },
  logLevel: {
    doc: 'Log level of the daemon: debug, info, warn or error.',
    format: ['debug', 'info', 'warn', 'error'],
    default: 'info',
    env: 'CRIMUX_LOG_LEVEL',
  },
  logFormat: {
    doc: "Log line format: logfmt (containerd's text format) or json (one object per line, as containerd and CRI-O offer).",
    format: ['logfmt', 'json'],
    default: 'logfmt',
    env: 'CRIMUX_LOG_FORMAT',
  },
  metrics: {
    address: {
      doc: 'host:port of the HTTP listener for /metrics, /healthz and /readyz; empty disables it.',
      format: String,
      default: '127.0.0.1:9611',
      env: 'CRIMUX_METRICS_ADDRESS',
    },
  },
  streaming: {
    address: {
      doc: 'host:port of the streaming server (exec/attach/port-forward URLs); port 0 picks a free port.',
      format: String,
      default: '127.0.0.1:0',
      env: 'CRIMUX_STREAMING_ADDRESS',
    },
    tokenTtlSeconds: {
      doc: 'How long a streaming URL stays valid (single use).',
      format: 'nat',
      default: 60,
      env: 'CRIMUX_STREAMING_TOKEN_TTL',
    },
    idleTimeoutSeconds: {
      doc: "A streaming connection with no traffic this long is closed (the kubelet's streaming-connection-idle-timeout); 0 disables.",
      format: 'nat',
      default: 14400,
      env: 'CRIMUX_STREAMING_IDLE_TIMEOUT',
    },
    streamCreationTimeoutSeconds: {
      doc: 'How long a client may take to open the streams of a session after the upgrade (kubelet: 30 s).',
      format: 'nat',
      default: 30,
      env: 'CRIMUX_STREAMING_STREAM_CREATION_TIMEOUT',
    },
    tlsCertFile: {
      doc: 'PEM certificate of the streaming server; with tlsKeyFile, URLs are https. Empty serves plain HTTP.',
      format: String,
      default: '',
      env: 'CRIMUX_STREAMING_TLS_CERT_FILE',
    },
    tlsKeyFile: {
      doc: 'PEM private key matching streaming.tlsCertFile; set both or neither.',
      format: String,
      default: '',
      env: 'CRIMUX_STREAMING_TLS_KEY_FILE',
    },
  },
  defaultHandler: {
    doc: 'Handler for pods that no RuntimeClass, annotation or rule routes elsewhere.',
    format: String,
    default: 'runc',
    env: 'CRIMUX_DEFAULT_HANDLER',
  },
  routing: {
    osContainerHandler: {
      doc: 'Handler for pods annotated runtime.frakti.alpha.kubernetes.io/OSContainer: "true".',
      format: String,
      default: 'docker',
      env: 'CRIMUX_ROUTING_OS_CONTAINER_HANDLER',
    },
    untrustedHandler: {
      doc: 'Handler for pods annotated io.kubernetes.cri.untrusted-workload: "true".',
      format: String,
      default: 'vm',
      env: 'CRIMUX_ROUTING_UNTRUSTED_HANDLER',
    },
    hostNamespaceHandler: {
      doc: 'Handler for pods that need host namespaces or privilege when the handler chosen by annotation, rule or default cannot honour them (Frakti sent them to Docker). Empty: reject such pods.',
      format: String,
      default: 'runc',
      env: 'CRIMUX_ROUTING_HOST_NAMESPACE_HANDLER',
    },
  },
  network: {
    confDir: {
      doc: 'CNI configuration directory; the lexically first .conflist/.conf is the pod network.',
      format: String,
      default: '/etc/cni/net.d',
      env: 'CRIMUX_CNI_CONF_DIR',
    },
    binDirs: {
      doc: 'Directories searched for CNI plugin binaries, in order.',
      format: Array,
      default: ['/usr/lib/cni', '/opt/cni/bin'],
    },
    netnsDir: {
      doc: 'Where pod network namespaces are bind-mounted; empty means <runDir>/netns, so two daemons with their own runDir never share it.',
      format: String,
      default: '',
      env: 'CRIMUX_NETNS_DIR',
    },
  },
  lists: {
    backendTimeoutMs: {
      doc: 'Per-backend deadline of a List call; a slower backend is answered from the last-known snapshot.',
      format: 'nat',
      default: 2000,
      env: 'CRIMUX_LIST_BACKEND_TIMEOUT_MS',
    },
    healthProbeIntervalMs: {
      doc: 'How often each backend is probed in the background; Status and /readyz answer from the last probe. 0: probe at every call.',
      format: 'nat',
      default: 2000,
      env: 'CRIMUX_HEALTH_PROBE_INTERVAL_MS',
    },
    refreshIntervalMs: {
      doc: 'How often every backend is relisted in the background; lists and statuses are answered from memory between changes, and a change made outside crimux (a container exiting on its own) shows within this interval. 0: no kept lists, every call asks the backends.',
      format: 'nat',
      default: 1000,
      env: 'CRIMUX_LIST_REFRESH_INTERVAL_MS',
    },
    statsCacheMs: {
      doc: "How long a ListContainerStats/ListPodSandboxStats result is kept (the kubelet's housekeeping interval); 0 gathers stats at every call.",
      format: 'nat',
      default: 10000,
      env: 'CRIMUX_STATS_CACHE_MS',
    },
  },
  images: {
    sandboxImage: {
      doc: 'The pause image of sandboxes (runc, docker).',
      format: String,
      default: 'registry.k8s.io/pause:3.9',
      env: 'CRIMUX_SANDBOX_IMAGE',
    },
    platform: {
      doc: "The platform pulled from multi-platform images, os/architecture[/variant] (e.g. linux/arm64/v8); empty: the node's own (x64 → linux/amd64, arm64 → linux/arm64/v8, …), with the fallbacks containerd allows (amd64 → 386, arm64 → arm/v8…v5). containerd 2 sets this per runtime handler (runtime_platforms); crimux for the whole node.",
      format: platformFormat,
      default: '',
      env: 'CRIMUX_IMAGE_PLATFORM',
    },
    pullTimeoutSeconds: {
      doc: 'Upper bound of one image pull when the caller sets no deadline.',
      format: 'nat',
      default: 600,
      env: 'CRIMUX_PULL_TIMEOUT_SECONDS',
    },
    maxConcurrentDownloads: {
      doc: "Layers of one pull fetched and unpacked at the same time (containerd's default is 3).",
      format: 'nat',
      default: 3,
      env: 'CRIMUX_MAX_CONCURRENT_DOWNLOADS',
    },
    unpackHelper: {
      doc: "The crimux-layer helper that decompresses, verifies and extracts each pulled layer outside the daemon's event loop (a pull is otherwise bound by that one thread). Built by scripts/build-native.sh; empty, or missing, means the daemon does it itself.",
      format: String,
      default: '/usr/local/libexec/crimux/crimux-layer',
      env: 'CRIMUX_UNPACK_HELPER',
    },
    limits: {
      layerBytes: {
        doc: 'Largest uncompressed size of one layer; a bigger (or bomb) layer fails its pull. 32 GiB: the largest public layers unpack to 10–20 GiB.',
        format: 'nat',
        default: 32 * 1024 ** 3,
        env: 'CRIMUX_IMAGE_LAYER_BYTES_LIMIT',
      },
      layerEntries: {
        doc: 'Most entries (files, dirs, links) in one layer; texlive-full, among the largest, has ≈200k.',
        format: 'nat',
        default: 1_000_000,
        env: 'CRIMUX_IMAGE_LAYER_ENTRIES_LIMIT',
      },
      manifestBytes: {
        doc: 'Largest manifest or index, declared or sent (containerd and the distribution registry use 4 MiB).',
        format: 'nat',
        default: 4 * 1024 ** 2,
        env: 'CRIMUX_IMAGE_MANIFEST_BYTES_LIMIT',
      },
      configBytes: {
        doc: 'Largest image config, declared or sent.',
        format: 'nat',
        default: 8 * 1024 ** 2,
        env: 'CRIMUX_IMAGE_CONFIG_BYTES_LIMIT',
      },
    },
  },
  security: {
    logRoot: {
      doc: 'When set, container log paths must resolve under this directory (the kubelet uses /var/log/pods); empty allows any absolute log directory (crictl users often log to /tmp). Paths with ".." are always refused.',
      format: String,
      default: '',
      env: 'CRIMUX_LOG_ROOT',
    },
    mountSourceDenyList: {
      doc: 'Host paths that may never be mounted into a container: a source equal to, inside or an ancestor of one (after resolving symlinks) is refused. crimux adds its own paths (socket, stateDir, runDir, netnsDir, runtime roots, the docker socket, the VM guest dir).',
      format: Array,
      default: ['/run/crimux', '/var/lib/crimux'],
    },
  },
  backends: {
    runc: runcConfigSchema,
    vm: vmConfigSchema,
    docker: dockerConfigSchema,
    rkt: rktConfigSchema,
  },
};

/**
 * Keys whose values are whole maps or lists, validated by their own functions (src/config/formats.ts).
 * convict cannot hold them: it walks into object values as nested schema, and registry hosts contain dots.
 */
export const wholeValueSchema: Record<string, { doc: string; default: unknown; validate: (v: unknown) => void }> = {
  handlers: {
    doc: 'Runtime handlers by name (what RuntimeClass.handler refers to): { "<name>": { "backend": "runc|vm|docker|rkt", "options": {…} } }.',
    default: { runc: { backend: 'runc', options: {} } },
    validate: handlersFormat.validate,
  },
  'routing.rules': {
    doc: 'Ordered routing rules: [{ "name", "handler", "pin": false, "match": { "namespaces": [], "labels": {}, "privileged", "hostNetwork", "hostPid", "hostIpc" } }]; the first match wins. A pinned rule (pin: true) that matches cannot be overridden by runtime_handler or annotations.',
    default: [],
    validate: rulesFormat.validate,
  },
  'routing.annotationPolicy': {
    doc: 'Which namespaces may choose which handlers by annotation: [{ "namespaces": ["team-a"], "handlers": ["vm"] }]; the default (empty) denies all annotation routing.',
    default: [],
    validate: policyFormat.validate,
  },
  'images.registries': {
    doc: 'Per registry host, endpoints that REPLACE it (never a fallback to the real host): { "<host>": { "endpoints": [{ "url": "https://mirror:5000", "insecureSkipVerify": false, "ca": ["/etc/crimux/certs/mirror-ca.crt"], "clientCert": "/etc/crimux/certs/node.crt", "clientKey": "/etc/crimux/certs/node.key" }], "credentialsFile": "", "credentialRealms": [] } }. TLS as containerd\'s hosts.toml: ca (file or list) is trusted IN ADDITION to the node\'s roots (Node\'s, NODE_EXTRA_CA_CERTS and the system store), clientCert/clientKey (containerd\'s client pair; clientCert alone may hold both) are offered to the endpoint only; files are read at every pull. HTTP_PROXY/HTTPS_PROXY/NO_PROXY apply as in Go (src/images/proxy.ts). Credentials go only to the endpoint\'s own host and to the token realm hosts listed in credentialRealms (auth.docker.io is built in for Docker Hub), never over plain http to a non-loopback host.',
    default: {},
    validate: registriesFormat.validate,
  },
};
