package io.vvolgate.control.api;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.vvolgate.gateway.DeviceInfo;
import io.vvolgate.gateway.Gateway;
import io.vvolgate.gateway.ProtocolEndpointInfo;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The data plane's figures for Prometheus, read from the gateway when scraped (the data path only bumps
 * its adders; nothing here runs per I/O): per volume, per protocol endpoint, per host and per device,
 * plus capacity. Control-plane operation counts and latencies are a histogram the API records itself.
 */
public final class Metrics implements MultiCollector {
    private final Gateway gateway;
    private final VasaService service;

    public Metrics(Gateway gateway, VasaService service) {
        this.gateway = gateway;
        this.service = service;
    }

    /** Counters or gauges under construction: name → (help, points). */
    private static final class Family {
        final String help;
        final boolean counter;
        final List<Object[]> points = new ArrayList<>();

        Family(String help, boolean counter) {
            this.help = help;
            this.counter = counter;
        }
    }

    private final Map<String, Family> families = new LinkedHashMap<>();

    private void put(String name, String help, boolean counter, double value, String... labels) {
        families.computeIfAbsent(name, k -> new Family(help, counter)).points.add(new Object[] {value, Labels.of(labels)});
    }

    @Override
    public synchronized MetricSnapshots collect() {
        families.clear();
        Map<String, String> names = new HashMap<>();
        for (Gateway.ContainerStatus c : gateway.containers()) {
            names.put(c.name(), c.id().toString());
            Gateway.SpaceInfo s = gateway.space(c.name());
            String[] l = {"container", c.name()};
            put("vvolgate_container_capacity_bytes", "Data space of a storage container", false, s.capacity(), l);
            put("vvolgate_container_used_bytes", "Space holding data in a storage container", false, s.used(), l);
            put("vvolgate_container_free_bytes", "Free space of a storage container", false, s.free(), l);
            put("vvolgate_container_provisioned_bytes", "Sum of the sizes of the writable volumes of a container", false, s.provisioned(), l);
            put("vvolgate_container_snapshot_bytes", "Space only snapshots hold in a container", false, s.snapshotBytes(), l);
            put("vvolgate_container_reserved_bytes", "Space thick volumes reserved and have not written", false, s.reserved(), l);
            put("vvolgate_container_volumes", "Writable volumes in a container", false, s.volumes(), l);
            put("vvolgate_container_snapshots", "Snapshots in a container", false, s.snapshots(), l);
        }
        Map<String, double[]> perPe = new LinkedHashMap<>();
        Map<String, ProtocolEndpointInfo> peByContainer = new HashMap<>();
        for (ProtocolEndpointInfo pe : gateway.protocolEndpoints()) {
            peByContainer.put(pe.container(), pe);
            perPe.put(pe.container(), new double[5]);
        }
        io.prometheus.metrics.model.snapshots.HistogramSnapshot.Builder latency = io.prometheus.metrics.model.snapshots.HistogramSnapshot
                .builder().name("vvolgate_volume_latency_seconds")
                .help("Time from a command reaching a volume to its completion (QoS waits included), by direction");
        for (Gateway.VolumeStats v : gateway.volumeStats()) {
            var st = v.stats();
            String[] l = {"container", v.container(), "volume", v.volume().toString()};
            put("vvolgate_volume_read_commands", "Read commands a volume served", true, st.reads(), l);
            put("vvolgate_volume_write_commands", "Write commands a volume served", true, st.writes(), l);
            put("vvolgate_volume_read_bytes", "Bytes read from a volume", true, st.bytesRead(), l);
            put("vvolgate_volume_written_bytes", "Bytes written to a volume", true, st.bytesWritten(), l);
            put("vvolgate_volume_errors", "Commands on a volume that failed", true, st.errors(), l);
            put("vvolgate_volume_queue_depth", "Commands outstanding on a volume (QoS-queued included)", false, st.inFlight(), l);
            put("vvolgate_volume_qos_queued", "Commands waiting for their QoS turn", false, st.queued(), l);
            put("vvolgate_volume_qos_throttled", "Commands that had to wait for a QoS limit", true, st.throttled(), l);
            put("vvolgate_volume_qos_iops_limit", "IOPS limit of a volume (0: none)", false, st.iopsLimit(), l);
            put("vvolgate_volume_qos_bytes_per_second_limit", "Throughput limit of a volume in bytes per second (0: none)", false,
                    st.bytesPerSecondLimit(), l);
            String[] directions = {"read", "write", "other"};
            io.vvolgate.gateway.device.LatencyHistogram.Snapshot[] histograms = {st.readLatency(), st.writeLatency(), st.otherLatency()};
            for (int i = 0; i < histograms.length; i++) {
                latency.dataPoint(io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot.builder()
                        .classicHistogramBuckets(io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets.of(
                                histograms[i].upperBoundsSeconds(), histograms[i].bucketCounts()))
                        .sum(histograms[i].sumSeconds()).labels(Labels.of("container", v.container(), "volume", v.volume().toString(),
                                "direction", directions[i])).build());
            }
            ProtocolEndpointInfo pe = peByContainer.get(v.container());
            if (pe != null && v.anaGroup() == pe.anaGroup()) {
                double[] sum = perPe.get(v.container());
                sum[0] += st.reads();
                sum[1] += st.writes();
                sum[2] += st.bytesRead();
                sum[3] += st.bytesWritten();
                sum[4] += st.errors();
            }
        }
        for (Map.Entry<String, double[]> e : perPe.entrySet()) {
            ProtocolEndpointInfo pe = peByContainer.get(e.getKey());
            String[] l = {"protocol_endpoint", "pe-" + pe.container() + "-" + pe.anaGroup(), "subsystem", pe.subsystemNqn()};
            double[] v = e.getValue();
            put("vvolgate_pe_read_commands", "Read commands served through a protocol endpoint", true, v[0], l);
            put("vvolgate_pe_write_commands", "Write commands served through a protocol endpoint", true, v[1], l);
            put("vvolgate_pe_read_bytes", "Bytes read through a protocol endpoint", true, v[2], l);
            put("vvolgate_pe_written_bytes", "Bytes written through a protocol endpoint", true, v[3], l);
            put("vvolgate_pe_errors", "Failed commands through a protocol endpoint", true, v[4], l);
            put("vvolgate_pe_ana_state", "ANA state of a protocol endpoint (1 optimized, 2 non-optimized, 3 inaccessible)", false,
                    pe.anaState(), l);
            put("vvolgate_pe_namespaces", "Namespaces (bound volumes) in a protocol endpoint", false, pe.namespaces(), l);
        }
        Map<String, Integer> controllersByHost = new HashMap<>();
        for (Gateway.Connection c : gateway.connections()) {
            controllersByHost.merge(c.hostNqn(), 1, Integer::sum);
        }
        for (Object o : service.queryHosts()) {
            io.vertx.core.json.JsonObject h = (io.vertx.core.json.JsonObject) o;
            String[] l = {"host", h.getString("name"), "nqn", h.getString("nqn")};
            put("vvolgate_host_controllers", "NVMe controllers a registered host has now", false,
                    controllersByHost.getOrDefault(h.getString("nqn"), 0), l);
            put("vvolgate_host_bound_volumes", "Virtual volumes bound to a registered host", false,
                    h.getJsonArray("boundVvolIds").size(), l);
        }
        for (DeviceInfo d : gateway.devices()) {
            String[] l = {"container", d.container(), "device", d.path().toString()};
            put("vvolgate_device_up", "1 if the device holds current data (in sync or a single device), else 0", false,
                    d.state().equals("ok") || d.state().equals("in_sync") ? 1 : 0, l);
            put("vvolgate_device_size_bytes", "Size of a device under a container", false, d.size(), l);
            put("vvolgate_device_resync_progress", "Fraction of a resyncing mirror leg copied (1 when not resyncing)", false,
                    d.resyncProgress() == null ? 1 : d.resyncProgress(), l);
        }
        put("vvolgate_controllers", "NVMe controllers hosts have now (discovery included)", false, gateway.controllerCount());
        List<MetricSnapshot> out = new ArrayList<>();
        out.add(latency.build());
        for (Map.Entry<String, Family> e : families.entrySet()) {
            Family f = e.getValue();
            if (f.counter) {
                CounterSnapshot.Builder b = CounterSnapshot.builder().name(e.getKey()).help(f.help);
                for (Object[] p : f.points) {
                    b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().value((double) p[0]).labels((Labels) p[1]).build());
                }
                out.add(b.build());
            } else {
                GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(e.getKey()).help(f.help);
                for (Object[] p : f.points) {
                    b.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value((double) p[0]).labels((Labels) p[1]).build());
                }
                out.add(b.build());
            }
        }
        return new MetricSnapshots(out);
    }
}
