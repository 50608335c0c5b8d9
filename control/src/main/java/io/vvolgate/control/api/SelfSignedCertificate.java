package io.vvolgate.control.api;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Date;

/**
 * A self-signed certificate for the API when it listens beyond loopback and the operator configured none:
 * an EC P-256 key and a certificate for the listen address, valid ten years, made once with Bouncy Castle
 * (the JDK has no public API to issue certificates) and kept in the state directory (the key readable by
 * the owner only).
 */
public final class SelfSignedCertificate {
    private SelfSignedCertificate() {
    }

    /** Creates {@code cert} and {@code key} unless both exist; true if it made them now. */
    public static boolean ensure(Path cert, Path key, String address) throws IOException {
        if (Files.exists(cert) && Files.exists(key)) {
            return false;
        }
        Files.createDirectories(cert.getParent());
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(256, new SecureRandom());
            KeyPair pair = gen.generateKeyPair();
            X500Name name = new X500Name("CN=vvolgate " + address + ", O=vvolgate appliance");
            Instant now = Instant.now();
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, new BigInteger(64, new SecureRandom()),
                    Date.from(now.minus(1, ChronoUnit.DAYS)), Date.from(now.plus(3650, ChronoUnit.DAYS)), name, pair.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names(address)));
            ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(pair.getPrivate());
            // PKCS#8 ("PRIVATE KEY"): what Vert.x, OpenSSL and every TLS stack read for any key type.
            Files.writeString(key, "-----BEGIN PRIVATE KEY-----\n"
                    + java.util.Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(pair.getPrivate().getEncoded())
                    + "\n-----END PRIVATE KEY-----\n", StandardCharsets.US_ASCII);
            try {
                Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system
            }
            Files.writeString(cert, pem(new org.bouncycastle.cert.jcajce.JcaX509CertificateConverter().getCertificate(b.build(signer))),
                    StandardCharsets.US_ASCII);
            return true;
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IOException("cannot generate a TLS certificate: " + e.getMessage(), e);
        }
    }

    /**
     * The names a client may reach the API by: the listen address, or for a wildcard address every
     * address of the machine's interfaces, plus the host name.
     */
    private static GeneralName[] names(String address) throws IOException {
        java.util.List<GeneralName> out = new java.util.ArrayList<>();
        java.net.InetAddress listen = java.net.InetAddress.ofLiteral(address);
        if (listen.isAnyLocalAddress()) {
            for (java.net.NetworkInterface nic : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
                for (java.net.InetAddress a : java.util.Collections.list(nic.getInetAddresses())) {
                    if (!a.isLinkLocalAddress()) {
                        out.add(new GeneralName(GeneralName.iPAddress, a.getHostAddress().replaceAll("%.*$", "")));
                    }
                }
            }
            out.add(new GeneralName(GeneralName.dNSName, java.net.InetAddress.getLocalHost().getHostName()));
        } else {
            out.add(new GeneralName(GeneralName.iPAddress, address));
        }
        return out.toArray(GeneralName[]::new);
    }

    private static String pem(Object o) throws IOException {
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            w.writeObject(o);
        }
        return s.toString();
    }
}
