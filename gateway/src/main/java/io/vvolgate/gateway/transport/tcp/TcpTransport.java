package io.vvolgate.gateway.transport.tcp;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SelectStrategy;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vvolgate.gateway.GatewayException;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.fabrics.QueueAcceptor;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The NVMe/TCP listener side: owns the event loops, the listening sockets and the set of live
 * {@link TcpConnection}s. Each accepted socket gets a {@link TcpPduDecoder} and a {@link TcpConnection}, which
 * hands itself to the {@link QueueAcceptor} after ICReq/ICResp.
 *
 * <p>Socket I/O: {@value #NATIVE_TRANSPORT_PROPERTY} chooses {@code epoll} (the default), {@code io_uring}
 * (Netty's io_uring transport) or {@code nio}; a native transport the kernel or platform lacks falls back to
 * epoll, then NIO, with the reason logged. BENCHMARKS.md has the measurement behind the default.
 *
 * <p>Buffers: connections allocate from Netty's {@link PooledByteBufAllocator}, not 4.2's default adaptive
 * allocator, because the decoder hands each PDU on as a retained slice of the socket buffer and the connection
 * hands read data to the socket the same way: the pooled allocator recycles its slice objects, the adaptive one
 * allocates a new slice object each time (measured with JMH {@code -prof gc}, see BENCHMARKS.md).
 *
 * <p>Leak detection: unless {@code io.netty.leakDetection.level} is set, the transport turns Netty's buffer leak
 * detector off. Its default (simple: one buffer in 128 tracked with a stack trace) cost 6.5% of the event
 * loop's CPU at 4 KiB QD32 (async-profiler, BENCHMARKS.md). The tests run with it set to paranoid; an operator
 * chasing a leak sets it on the command line.
 *
 * <p>Thread: the public methods may be called from any thread. A connection stays in the set until it is
 * closed and the core has returned every request it held, so {@link #inFlight()} counts those too.
 */
public final class TcpTransport implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(TcpTransport.class.getName());

    private final QueueAcceptor acceptor;
    private final TcpTransportOptions options;
    private final EventLoopGroup group;
    private final Class<? extends ServerChannel> serverChannelClass;
    /** System property naming the socket transport: {@code epoll} (default), {@code io_uring} or {@code nio}. */
    public static final String NATIVE_TRANSPORT_PROPERTY = "vvolgate.tcp.transport";

    /** The socket transports {@link #NATIVE_TRANSPORT_PROPERTY} can name. */
    public enum SocketTransport { EPOLL, IO_URING, NIO }

    /**
     * System property: {@code true} makes epoll event loops poll (spin on {@code epoll_wait} with no timeout) instead
     * of sleeping until the kernel wakes them, as SPDK's reactors poll. Each event loop then takes a whole core, all
     * the time; in exchange no I/O waits for a thread wake-up. Off by default.
     */
    public static final String BUSY_POLL_PROPERTY = "vvolgate.tcp.busy_poll";

    private final SocketTransport socketTransport;
    private final Set<TcpConnection> connections = ConcurrentHashMap.newKeySet();
    private final List<Channel> listeners = new CopyOnWriteArrayList<>();

    public TcpTransport(QueueAcceptor acceptor, int eventLoopThreads, TcpTransportOptions options) {
        if (eventLoopThreads < 1) {
            throw new IllegalArgumentException("eventLoopThreads must be >= 1: " + eventLoopThreads);
        }
        this.acceptor = acceptor;
        this.options = options;
        if (System.getProperty("io.netty.leakDetection.level") == null) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        }
        this.socketTransport = available(requestedTransport());
        IoHandlerFactory ioHandler = switch (socketTransport) {
            case IO_URING -> IoUringIoHandler.newFactory();
            case EPOLL -> Boolean.getBoolean(BUSY_POLL_PROPERTY)
                    ? EpollIoHandler.newFactory(0, () -> (selectSupplier, hasTasks) -> SelectStrategy.BUSY_WAIT)
                    : EpollIoHandler.newFactory();
            case NIO -> NioIoHandler.newFactory();
        };
        this.serverChannelClass = switch (socketTransport) {
            case IO_URING -> IoUringServerSocketChannel.class;
            case EPOLL -> EpollServerSocketChannel.class;
            case NIO -> NioServerSocketChannel.class;
        };
        this.group = new MultiThreadIoEventLoopGroup(eventLoopThreads, new DefaultThreadFactory("nvme-tcp", true), ioHandler);
        LOG.log(System.Logger.Level.INFO, "NVMe/TCP transport on {0} with {1} event loop(s){2}",
                socketTransport.name().toLowerCase(Locale.ROOT), eventLoopThreads,
                socketTransport == SocketTransport.EPOLL && Boolean.getBoolean(BUSY_POLL_PROPERTY) ? ", busy polling" : "");
    }

    /** The socket transport in use (after any fallback). */
    public SocketTransport socketTransport() {
        return socketTransport;
    }

    static SocketTransport requestedTransport() {
        String name = System.getProperty(NATIVE_TRANSPORT_PROPERTY, "epoll").trim().toLowerCase(Locale.ROOT);
        return switch (name) {
            case "epoll" -> SocketTransport.EPOLL;
            case "io_uring", "iouring", "io-uring" -> SocketTransport.IO_URING;
            case "nio" -> SocketTransport.NIO;
            default -> throw new GatewayException(NATIVE_TRANSPORT_PROPERTY + " must be epoll, io_uring or nio, not '"
                    + name + "'");
        };
    }

    /** {@code wanted} if this platform has it, else the next one down (io_uring, epoll, NIO), logged. */
    static SocketTransport available(SocketTransport wanted) {
        if (wanted == SocketTransport.IO_URING) {
            if (IoUring.isAvailable()) {
                return wanted;
            }
            LOG.log(System.Logger.Level.WARNING, "NVMe/TCP: io_uring socket transport unavailable ({0}); using epoll",
                    String.valueOf(IoUring.unavailabilityCause()));
            wanted = SocketTransport.EPOLL;
        }
        if (wanted == SocketTransport.EPOLL && !Epoll.isAvailable()) {
            LOG.log(System.Logger.Level.WARNING, "NVMe/TCP: epoll unavailable ({0}); using NIO",
                    String.valueOf(Epoll.unavailabilityCause()));
            return SocketTransport.NIO;
        }
        return wanted;
    }

    /**
     * Binds a listener. {@code port} 0 binds any free port; the returned {@link Port} carries the real one.
     *
     * @throws GatewayException if the address cannot be bound
     */
    public Port listen(int portId, String address, int port, boolean discovery) {
        PortHolder holder = new PortHolder(portId, address, discovery);
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(group)
                .channel(serverChannelClass)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
                        new WriteBufferWaterMark(options.writeBufferLowWaterMark(), options.writeBufferHighWaterMark()))
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        TcpConnection connection = new TcpConnection(acceptor, holder.port(ch), options, connections::remove);
                        connections.add(connection);
                        ch.pipeline().addLast("nvme-tcp-decoder", new TcpPduDecoder(options));
                        ch.pipeline().addLast("nvme-tcp-connection", connection);
                    }
                });
        Channel listener;
        try {
            listener = bootstrap.bind(address, port).syncUninterruptibly().channel();
        } catch (Exception e) {
            throw new GatewayException("cannot listen for NVMe/TCP on " + address + ":" + port + ": " + e.getMessage(), e);
        }
        listeners.add(listener);
        int realPort = ((InetSocketAddress) listener.localAddress()).getPort();
        Port bound = new Port(portId, Port.TRTYPE_TCP, address, Integer.toString(realPort), discovery);
        holder.set(bound);
        LOG.log(System.Logger.Level.INFO, "NVMe/TCP listening on {0}:{1}{2}", address, Integer.toString(realPort), discovery ? " (discovery)" : "");
        return bound;
    }

    /** Closes the listening sockets; connections stay. */
    public void stopAccepting() {
        for (Channel listener : listeners) {
            listener.close().syncUninterruptibly();
        }
        listeners.clear();
    }

    /** Stops reading new commands on every connection; commands under way finish. */
    public void quiesce() {
        for (TcpConnection connection : connections) {
            connection.quiesce();
        }
    }

    /** Commands submitted to the core and not yet completed, over all connections (also closed ones). */
    public long inFlight() {
        long sum = 0;
        for (TcpConnection connection : connections) {
            sum += connection.inFlight();
        }
        return sum;
    }

    /** Live connections, and closed ones whose commands the core still holds. */
    public Set<TcpConnection> connections() {
        return Set.copyOf(connections);
    }

    public void closeConnections() {
        for (TcpConnection connection : connections) {
            connection.close("transport closing");
        }
    }

    /** Stops accepting, closes every connection and shuts the event loops down. */
    @Override
    public void close() {
        stopAccepting();
        closeConnections();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** The listener's {@link Port}, known only once bound; a connection accepted before that derives it. */
    private static final class PortHolder {
        private final int portId;
        private final String address;
        private final boolean discovery;
        private volatile Port port;

        PortHolder(int portId, String address, boolean discovery) {
            this.portId = portId;
            this.address = address;
            this.discovery = discovery;
        }

        void set(Port port) {
            this.port = port;
        }

        Port port(Channel child) {
            Port p = port;
            if (p == null) {
                int real = ((InetSocketAddress) child.parent().localAddress()).getPort();
                p = new Port(portId, Port.TRTYPE_TCP, address, Integer.toString(real), discovery);
            }
            return p;
        }
    }
}
