package io.vvolgate.gateway.transport.tcp;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.vvolgate.gateway.GatewayException;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.fabrics.QueueAcceptor;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The NVMe/TCP listener side: owns the event loops (epoll when available, NIO otherwise), the listening
 * sockets and the set of live {@link TcpConnection}s. Each accepted socket gets a {@link TcpPduDecoder} and a
 * {@link TcpConnection}, which hands itself to the {@link QueueAcceptor} after ICReq/ICResp.
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
    private final Set<TcpConnection> connections = ConcurrentHashMap.newKeySet();
    private final List<Channel> listeners = new CopyOnWriteArrayList<>();

    public TcpTransport(QueueAcceptor acceptor, int eventLoopThreads, TcpTransportOptions options) {
        if (eventLoopThreads < 1) {
            throw new IllegalArgumentException("eventLoopThreads must be >= 1: " + eventLoopThreads);
        }
        this.acceptor = acceptor;
        this.options = options;
        boolean epoll = Epoll.isAvailable();
        IoHandlerFactory ioHandler = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.serverChannelClass = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        this.group = new MultiThreadIoEventLoopGroup(eventLoopThreads, new DefaultThreadFactory("nvme-tcp", true), ioHandler);
        LOG.log(System.Logger.Level.DEBUG, "NVMe/TCP transport on {0} with {1} event loops",
                epoll ? "epoll" : "NIO", eventLoopThreads);
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
