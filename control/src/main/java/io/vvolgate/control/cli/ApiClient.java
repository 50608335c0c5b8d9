package io.vvolgate.control.cli;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The REST API of one appliance, over {@link HttpClient}: JSON in, JSON out, and every refusal turned into a
 * {@link CtlException} carrying the appliance's code and sentence. Used by one command on one thread.
 */
final class ApiClient implements AutoCloseable {
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);

    private final String base;
    private final String token;
    private final HttpClient http;

    ApiClient(String url, String token, String caFile, boolean insecure) {
        this.base = stripSlash(checkUrl(url));
        this.token = token;
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT);
        if (base.startsWith("https:")) {
            b.sslContext(sslContext(caFile, insecure));
        }
        this.http = b.build();
    }

    String url() {
        return base;
    }

    /** A GET; the answer is a {@link JsonObject}, a {@link JsonArray}, or null for no content. */
    Object get(String path, Map<String, ?> query) {
        return send("GET", path + queryString(query), null);
    }

    Object get(String path) {
        return send("GET", path, null);
    }

    JsonObject getObject(String path) {
        return (JsonObject) get(path);
    }

    JsonArray getArray(String path, Map<String, ?> query) {
        return (JsonArray) get(path, query);
    }

    JsonArray getArray(String path) {
        return (JsonArray) get(path);
    }

    Object send(String method, String path, Object body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(REQUEST_TIMEOUT)
                .header("Accept", "application/json");
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        if (body != null) {
            b.header("Content-Type", "application/json");
            b.method(method, HttpRequest.BodyPublishers.ofString(body.toString(), StandardCharsets.UTF_8));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        HttpResponse<String> r;
        try {
            r = http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (HttpConnectTimeoutException e) {
            throw unreachable("no answer within " + CONNECT_TIMEOUT.toSeconds() + " seconds");
        } catch (HttpTimeoutException e) {
            throw CtlException.refused("timeout", "the appliance at " + base + " did not answer " + method + " " + path
                    + " within " + REQUEST_TIMEOUT.toSeconds() + " seconds");
        } catch (SSLHandshakeException e) {
            throw CtlException.refused("tls_untrusted", "the appliance at " + base + " presented a certificate this"
                    + " login does not trust; log in with --ca FILE (the appliance's"
                    + " state_dir/control/tls/cert.pem), or --insecure to skip the check");
        } catch (ConnectException e) {
            throw unreachable("connection refused");
        } catch (IOException e) {
            throw unreachable(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw CtlException.refused("interrupted", "interrupted");
        }
        return answer(r);
    }

    private CtlException unreachable(String why) {
        return CtlException.refused("unreachable", "cannot reach the appliance at " + base + " (" + why
                + "); is it running, and is the URL right?");
    }

    private Object answer(HttpResponse<String> r) {
        String text = r.body() == null ? "" : r.body().strip();
        int status = r.statusCode();
        if (status >= 400) {
            String code = "http_" + status;
            String message = "the appliance answered HTTP " + status;
            try {
                JsonObject error = new JsonObject(text).getJsonObject("error");
                if (error != null) {
                    code = error.getString("code", code);
                    message = error.getString("message", message);
                }
            } catch (DecodeException | ClassCastException e) {
                // Not our API's error (a proxy's page, say): the status is all there is.
            }
            int exit = status == 401 ? CtlException.EXIT_LOGIN : CtlException.EXIT_REFUSED;
            throw new CtlException(exit, code, message, status);
        }
        if (text.isEmpty()) {
            return null;
        }
        try {
            return text.startsWith("[") ? new JsonArray(text) : new JsonObject(text);
        } catch (DecodeException e) {
            throw CtlException.refused("bad_answer", "the appliance answered with something that is not JSON: "
                    + text.substring(0, Math.min(80, text.length())));
        }
    }

    /** A path segment, encoded: names may hold spaces and slashes. */
    static String segment(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    static String queryString(Map<String, ?> query) {
        if (query == null || query.isEmpty()) {
            return "";
        }
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, ?> e : query.entrySet()) {
            if (e.getValue() == null) {
                continue;
            }
            b.append(b.isEmpty() ? '?' : '&').append(segment(e.getKey())).append('=').append(segment(e.getValue().toString()));
        }
        return b.toString();
    }

    /** A query in the order given, leaving out null values. */
    static Map<String, Object> query(Object... keyValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            if (keyValues[i + 1] != null) {
                m.put((String) keyValues[i], keyValues[i + 1]);
            }
        }
        return m;
    }

    static String checkUrl(String url) {
        URI u;
        try {
            u = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw CtlException.usage("\"" + url + "\" is not a URL (e.g. http://127.0.0.1:8080)");
        }
        if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme()) || u.getHost() == null) {
            throw CtlException.usage("\"" + url + "\" is not an http:// or https:// URL (e.g. http://127.0.0.1:8080)");
        }
        return url;
    }

    private static String stripSlash(String url) {
        return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
    }

    private static SSLContext sslContext(String caFile, boolean insecure) {
        try {
            SSLContext ctx = SSLContext.getInstance("TLS");
            TrustManager tm = null;
            if (insecure) {
                tm = new TrustAnything();
            } else if (caFile != null) {
                tm = pinnedOrIssuedBy(Path.of(caFile));
            }
            ctx.init(null, tm == null ? null : new TrustManager[] {tm}, new SecureRandom());
            return ctx;
        } catch (GeneralSecurityException e) {
            throw CtlException.refused("tls", "cannot set up TLS: " + e.getMessage());
        }
    }

    /**
     * Trusts the server if its own certificate is one in {@code file} (the appliance's self-signed
     * certificate, pinned: its host name need not match, since an appliance listening on 0.0.0.0 cannot name
     * every address it is reached by), and otherwise does the full check, host name included, against the
     * certificates in {@code file} as CAs.
     */
    private static TrustManager pinnedOrIssuedBy(Path file) throws GeneralSecurityException {
        Collection<? extends Certificate> certs;
        try (InputStream in = Files.newInputStream(file)) {
            certs = CertificateFactory.getInstance("X.509").generateCertificates(in);
        } catch (IOException e) {
            throw CtlException.usage("cannot read the certificate file " + file + ": " + e.getMessage());
        }
        if (certs.isEmpty()) {
            throw CtlException.usage(file + " holds no PEM certificate");
        }
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        try {
            ks.load(null, null);
        } catch (IOException e) {
            throw new GeneralSecurityException(e);
        }
        int i = 0;
        for (Certificate c : certs) {
            ks.setCertificateEntry("ca" + i++, c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        X509ExtendedTrustManager pkix = null;
        for (TrustManager t : tmf.getTrustManagers()) {
            if (t instanceof X509ExtendedTrustManager x) {
                pkix = x;
            }
        }
        if (pkix == null) {
            throw new GeneralSecurityException("no X.509 trust manager");
        }
        return new Pinned(new ArrayList<>(certs), pkix);
    }

    private static final class Pinned extends ServerTrustManager {
        private final List<Certificate> pinned;
        private final X509ExtendedTrustManager pkix;

        Pinned(List<Certificate> pinned, X509ExtendedTrustManager pkix) {
            this.pinned = pinned;
            this.pkix = pkix;
        }

        private boolean isPinned(X509Certificate[] chain) {
            return chain != null && chain.length > 0 && pinned.contains(chain[0]);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            if (!isPinned(chain)) {
                pkix.checkServerTrusted(chain, authType, engine);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            if (!isPinned(chain)) {
                pkix.checkServerTrusted(chain, authType, socket);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            if (!isPinned(chain)) {
                pkix.checkServerTrusted(chain, authType);
            }
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return pkix.getAcceptedIssuers();
        }
    }

    /** A trust manager for a client: it only ever checks servers. */
    private abstract static class ServerTrustManager extends X509ExtendedTrustManager {
        @Override
        public final void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
            throw new CertificateException("a client does not check clients");
        }

        @Override
        public final void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            throw new CertificateException("a client does not check clients");
        }

        @Override
        public final void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("a client does not check clients");
        }
    }

    /** {@code --insecure}: any certificate, any host name (the extended manager is where names are checked). */
    private static final class TrustAnything extends ServerTrustManager {
        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    @Override
    public void close() {
        http.close();
    }
}
