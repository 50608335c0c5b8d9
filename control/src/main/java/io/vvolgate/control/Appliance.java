package io.vvolgate.control;

import io.vvolgate.control.config.ApplianceConfig;
import io.vvolgate.control.config.ApplianceConfig.Backend;
import io.vvolgate.control.identity.IdentityException;
import io.vvolgate.control.identity.IdentityStore;
import io.vvolgate.gateway.Gateway;
import io.vvolgate.gateway.GatewayException;
import io.vvolgate.gateway.GatewaySpec;
import io.vvolgate.gateway.NamespaceConflictException;
import io.vvolgate.gateway.device.FileDevices;
import io.vvolgate.gateway.transport.tcp.TcpTransport;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A running appliance: the state directory (locked, so two appliances cannot share it), the identities,
 * and the gateway started from a configuration. {@link #start} prints the lines the test rigs parse;
 * {@link #close} stops everything. Started and closed by one thread; {@link #close} may come from a
 * shutdown hook and is idempotent.
 */
public final class Appliance implements AutoCloseable {

    /** Lock file in the state directory; held while an appliance runs. */
    public static final String LOCK_FILE = ".lock";

    private final Gateway gateway;
    private final FileChannel lockChannel;
    private final AtomicBoolean closed = new AtomicBoolean();
    private ControlPlane control;

    private Appliance(Gateway gateway, FileChannel lockChannel) {
        this.gateway = gateway;
        this.lockChannel = lockChannel;
    }

    /**
     * Why {@code serve} could not start; the message is a plain sentence for the operator. A
     * {@link #configProblem} is the configuration contradicting what is stored (e.g. a volume larger than
     * its namespace's size): the message then starts with {@code file:line:}, and the file is to be fixed.
     */
    public static final class StartException extends Exception {
        private final boolean configProblem;

        public StartException(String message) {
            this(message, false);
        }

        public StartException(String message, boolean configProblem) {
            super(message);
            this.configProblem = configProblem;
        }

        public boolean configProblem() {
            return configProblem;
        }
    }

    /**
     * Starts the appliance and prints, on {@code out}:
     * <pre>
     * vvolgate: container &lt;name&gt; &lt;UUID&gt; recovered in &lt;n&gt; ms (&lt;v&gt; volumes)   one line per container found,
     * vvolgate: container &lt;name&gt; &lt;UUID&gt; formatted                          or made new on a blank device
     * vvolgate: subsystem &lt;NQN&gt; namespaces=&lt;n&gt;        one line per subsystem
     * vvolgate: listening &lt;address&gt;:&lt;port&gt; nvme-tcp &lt;io|discovery&gt;   one line per listener, real ports
     * vvolgate: ready
     * </pre>
     * Warnings (e.g. a namespace that gets a new identity) go to {@code err}.
     */
    public static Appliance start(ApplianceConfig config, PrintStream out, PrintStream err) throws StartException {
        Path stateDir = config.stateDir();
        try {
            Files.createDirectories(stateDir);
        } catch (IOException e) {
            throw new StartException("cannot create state directory " + stateDir + ": " + describe(e));
        }
        FileChannel lock = lockStateDir(stateDir);
        try {
            IdentityStore identities = IdentityStore.load(stateDir);
            for (String warning : identities.assign(config)) {
                err.println("vvolgate: warning: " + warning);
            }
            // Durable before any host can see the identities.
            identities.save();
            for (ApplianceConfig.Subsystem s : config.subsystems()) {
                for (ApplianceConfig.Namespace ns : s.namespaces()) {
                    if (ns.backend() == Backend.FILE && ns.path().getParent() != null) {
                        Files.createDirectories(ns.path().getParent());
                    }
                }
            }
            for (ApplianceConfig.Container c : config.containers()) {
                // A missing leg of a mirrored pair is a replacement, created at its partner's size.
                if (c.size() == 0 && c.devices().stream().noneMatch(Files::exists)) {
                    release(lock);
                    throw new StartException(config.source() + ":" + c.line() + ": container \"" + c.name() + "\" has no size and its image "
                            + c.devices().getFirst() + " does not exist (add e.g. size = \"64GiB\" to create it, or correct the path)", true);
                }
                for (Path device : c.devices()) {
                    if (!Files.exists(device) && device.getParent() != null) {
                        Files.createDirectories(device.getParent());
                    }
                }
            }
            ControlPlane.Stored stored;
            try {
                stored = ControlPlane.load(stateDir);
            } catch (IOException e) {
                release(lock);
                throw new StartException("cannot read the control state: " + e.getMessage());
            }
            Gateway gateway;
            try {
                System.setProperty(FileDevices.PROPERTY, config.fileIo()); // read when Gateway.start opens file devices
                if (config.ioPoll()) {
                    System.setProperty(TcpTransport.BUSY_POLL_PROPERTY, "true"); // read when Gateway.start makes the loops
                }
                gateway = Gateway.start(spec(config, identities, stored.registeredHosts(), stored.bindings()));
            } catch (NamespaceConflictException e) {
                release(lock);
                throw new StartException(where(config, e) + e.getMessage(), true);
            }
            Appliance appliance = new Appliance(gateway, lock);
            try {
                appliance.control = ControlPlane.start(config, gateway, stored, out, err);
            } catch (IOException | RuntimeException e) {
                appliance.close();
                throw new StartException("cannot start the control plane API: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            }
            try {
                identities.recordImages(config);
                identities.save();
            } catch (IdentityException e) {
                // The gateway runs with the right identities; only the rename detection is missing.
                err.println("vvolgate: warning: " + e.getMessage());
            }
            for (Gateway.ContainerStatus c : gateway.containers()) {
                out.println("vvolgate: container " + c.name() + " " + c.id() + (c.formatted() ? " formatted"
                        : " recovered in " + c.recoveryMillis() + " ms (" + c.volumes() + " volumes)"));
            }
            for (String warning : sizeWarnings(config, gateway.containers())) {
                err.println("vvolgate: warning: " + warning);
            }
            for (ApplianceConfig.Subsystem s : config.subsystems()) {
                out.println("vvolgate: subsystem " + s.nqn() + " namespaces=" + s.namespaces().size());
            }
            for (Gateway.BoundListener l : gateway.listeners()) {
                String host = l.address().contains(":") ? "[" + l.address() + "]" : l.address();
                out.println("vvolgate: listening " + host + ":" + l.port() + " nvme-tcp " + (l.discovery() ? "discovery" : "io"));
            }
            out.println("vvolgate: api " + appliance.control.url());
            if (appliance.control.generatedPassword() != null) {
                out.println("vvolgate: admin password " + appliance.control.generatedPassword()
                        + " (shown once; only its hash is kept; change it in the console or with: ./vvolgate ctl user password admin)");
            }
            out.println("vvolgate: ready");
            out.flush();
            return appliance;
        } catch (IdentityException e) {
            release(lock);
            throw new StartException(e.getMessage());
        } catch (GatewayException e) {
            release(lock);
            throw new StartException(e.getMessage());
        } catch (IOException e) {
            release(lock);
            throw new StartException(describe(e));
        } catch (RuntimeException e) {
            release(lock);
            throw e;
        }
    }

    /** {@code file:line: namespace N of NQN: } for the namespace {@code e} is about (its size line for a volume). */
    private static String where(ApplianceConfig config, NamespaceConflictException e) {
        for (ApplianceConfig.Subsystem s : config.subsystems()) {
            if (!s.nqn().equals(e.nqn())) {
                continue;
            }
            for (ApplianceConfig.Namespace ns : s.namespaces()) {
                if (ns.nsid() == e.nsid()) {
                    int line = ns.volume() == null ? 0 : ns.volume().sizeLine();
                    return config.source() + ":" + line + ": namespace " + Integer.toUnsignedString(ns.nsid()) + " of subsystem "
                            + s.nqn() + ": ";
                }
            }
        }
        return config.source() + ": ";
    }

    /** A container whose image already existed keeps its size; say so when the file asks for another. */
    static List<String> sizeWarnings(ApplianceConfig config, List<Gateway.ContainerStatus> opened) {
        List<String> warnings = new ArrayList<>();
        for (ApplianceConfig.Container c : config.containers()) {
            for (Gateway.ContainerStatus status : opened) {
                if (status.name().equals(c.name()) && c.size() != 0 && c.size() != status.deviceSize()) {
                    warnings.add(config.source() + ":" + c.line() + ": container \"" + c.name() + "\" has size " + c.size()
                            + " but its device holds " + status.deviceSize() + " bytes; size applies only when the image is"
                            + " created, and a container cannot be resized");
                }
            }
        }
        return warnings;
    }

    /** The admin API's description of {@code config}, with the identities from {@code identities}. */
    static GatewaySpec spec(ApplianceConfig config, IdentityStore identities) {
        return spec(config, identities, List.of(), List.of());
    }

    /**
     * As {@link #spec(ApplianceConfig, IdentityStore)}, with the hosts the control plane registered (admitted
     * to the protocol endpoint subsystems) and the bindings it restores. A container's protocol endpoint
     * subsystem that the file does not configure is added, admitting only registered hosts.
     */
    static GatewaySpec spec(ApplianceConfig config, IdentityStore identities, List<String> registeredHosts,
                            List<GatewaySpec.BindingSpec> bindings) {
        List<GatewaySpec.SubsystemSpec> subsystems = new ArrayList<>();
        for (ApplianceConfig.Subsystem s : config.subsystems()) {
            List<GatewaySpec.NamespaceSpec> namespaces = new ArrayList<>();
            for (ApplianceConfig.Namespace ns : s.namespaces()) {
                IdentityStore.NamespaceIdentity id = identities.namespace(s.nqn(), ns.nsid());
                GatewaySpec.DeviceSpec device = switch (ns.backend()) {
                    case FILE -> new GatewaySpec.FileDevice(ns.path(), ns.size());
                    case MEMORY -> new GatewaySpec.MemoryDevice(ns.size());
                    // The identity below is given to the volume only if it is created now; an existing
                    // volume is exported with its own.
                    case VOLUME -> new GatewaySpec.VolumeDevice(ns.volume().container(), ns.volume().name(), ns.size(), ns.blockSize(),
                            ns.volume().snapshotOf(), ns.volume().cloneOf());
                };
                namespaces.add(new GatewaySpec.NamespaceSpec(ns.nsid(), device, ns.blockSize(), id.nguid(), id.uuid(),
                        ns.anaGroup()));
            }
            List<String> hosts = new ArrayList<>(s.hosts());
            boolean isEndpoint = config.containers().stream().anyMatch(c -> s.nqn().equals(c.subsystem()));
            if (isEndpoint) {
                registeredHosts.stream().filter(h -> !hosts.contains(h)).forEach(hosts::add);
            }
            subsystems.add(new GatewaySpec.SubsystemSpec(s.nqn(), identities.serial(s.nqn()), s.model(), s.allowAnyHost(),
                    hosts, namespaces));
        }
        for (ApplianceConfig.Container c : config.containers()) {
            if (c.subsystem() != null && subsystems.stream().noneMatch(x -> x.nqn().equals(c.subsystem()))) {
                subsystems.add(new GatewaySpec.SubsystemSpec(c.subsystem(), identities.serial(c.subsystem()), "vvolgate", false,
                        registeredHosts, List.of()));
            }
        }
        List<GatewaySpec.ListenerSpec> listeners = config.listeners().stream()
                .map(l -> new GatewaySpec.ListenerSpec(l.address(), l.port(), l.discovery()))
                .toList();
        List<GatewaySpec.ContainerSpec> containers = config.containers().stream()
                .map(c -> new GatewaySpec.ContainerSpec(c.name(), c.devices(), c.size(), c.clusterSize(), c.subsystem(), c.anaGroup()))
                .toList();
        return new GatewaySpec(containers, subsystems, listeners, config.ioThreads(), bindings);
    }

    public List<Gateway.BoundListener> listeners() {
        return gateway.listeners();
    }

    /** Where the REST API and the console listen, e.g. {@code http://127.0.0.1:8080}. */
    public String apiUrl() {
        return control.url();
    }

    /** Stops the gateway (it drains, flushes and closes the devices) and unlocks the state directory. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            if (control != null) {
                control.close();
            }
            gateway.close();
        } finally {
            release(lockChannel);
        }
    }

    private static FileChannel lockStateDir(Path stateDir) throws StartException {
        Path lockFile = stateDir.resolve(LOCK_FILE);
        FileChannel channel = null;
        try {
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = channel.tryLock();
            if (lock == null) {
                throw new OverlappingFileLockException();
            }
            return channel;
        } catch (OverlappingFileLockException e) {
            release(channel);
            throw new StartException("state directory " + stateDir + " is in use by another vvolgate (it holds " + lockFile + ")");
        } catch (IOException e) {
            release(channel);
            throw new StartException("cannot lock state directory " + stateDir + ": " + describe(e));
        }
    }

    private static void release(FileChannel channel) {
        if (channel == null) {
            return;
        }
        try {
            channel.close(); // releases the lock
        } catch (IOException e) {
            // Closing a lock file cannot lose anything.
        }
    }

    /** An IOException as a sentence: NIO's messages are often just the path. */
    static String describe(IOException e) {
        String type = switch (e) {
            case java.nio.file.AccessDeniedException x -> "permission denied";
            case java.nio.file.NoSuchFileException x -> "no such file or directory";
            case java.nio.file.FileAlreadyExistsException x -> "a file is in the way";
            case java.nio.file.FileSystemException x -> x.getReason() == null ? "file system error" : x.getReason();
            default -> null;
        };
        if (type == null) {
            return e.getMessage() == null ? e.toString() : e.getMessage();
        }
        return ((java.nio.file.FileSystemException) e).getFile() + ": " + type;
    }
}
