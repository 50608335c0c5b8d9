package io.vvolgate.control.api;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The generated certificate serves TLS, and a client trusting it reaches the server by the listen address. */
@Timeout(60)
class SelfSignedCertificateTest {

    @Test
    void aClientTrustingTheGeneratedCertificateConnects(@TempDir Path dir) throws Exception {
        Path cert = dir.resolve("tls/cert.pem");
        Path key = dir.resolve("tls/key.pem");
        assertTrue(SelfSignedCertificate.ensure(cert, key, "127.0.0.1"));
        assertFalse(SelfSignedCertificate.ensure(cert, key, "127.0.0.1"), "made once, then kept");
        assertTrue(Files.readString(key).startsWith("-----BEGIN PRIVATE KEY-----"));
        Vertx vertx = Vertx.vertx();
        try {
            var server = vertx.createHttpServer(new HttpServerOptions().setSsl(true).setHost("127.0.0.1").setPort(0)
                            .setKeyCertOptions(new PemKeyCertOptions().setCertPath(cert.toString()).setKeyPath(key.toString())))
                    .requestHandler(r -> r.response().end("hello"))
                    .listen().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            X509Certificate x509 = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(Files.newInputStream(cert));
            KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
            trust.load(null, null);
            trust.setCertificateEntry("vvolgate", x509);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            SSLContext ssl = SSLContext.getInstance("TLS");
            ssl.init(null, tmf.getTrustManagers(), null);
            HttpResponse<String> r = HttpClient.newBuilder().sslContext(ssl).build().send(
                    HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.actualPort() + "/")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals("hello", r.body());
        } finally {
            vertx.close();
        }
    }
}
