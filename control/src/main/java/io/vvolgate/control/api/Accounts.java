package io.vvolgate.control.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Operator accounts and sessions. Passwords are kept only as PBKDF2-HMAC-SHA256 hashes (a well-known KDF
 * in every JDK; 210,000 iterations, as OWASP advises for it) with a random salt each. A login returns a
 * random 256-bit bearer token valid for {@link #SESSION_LENGTH}; sessions live in memory, so a restart
 * logs everybody out. Roles: viewer reads, operator also changes storage and hosts, admin also manages users.
 */
final class Accounts {
    static final Duration SESSION_LENGTH = Duration.ofHours(8);
    static final int ITERATIONS = 210_000;
    private static final SecureRandom RANDOM = new SecureRandom();

    enum Role {
        VIEWER, OPERATOR, ADMIN;

        String wire() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        static Role of(String s) {
            for (Role r : values()) {
                if (r.wire().equals(s)) {
                    return r;
                }
            }
            throw ApiError.badRequest("invalid_role", "the role must be viewer, operator or admin, not \"" + s + "\"", "role");
        }

        boolean atLeast(Role other) {
            return ordinal() >= other.ordinal();
        }
    }

    record Session(String token, String username, Role role, Instant expiresAt) {
    }

    /** Users as stored: username → {role, salt, hash, iterations, createdAt}. Guarded by this. */
    private final JsonObject users;
    private final Map<String, Session> sessions = new ConcurrentHashMap<>();

    /** Works on the {@code users} object of the state document, which the caller saves after changes. */
    Accounts(JsonObject users) {
        this.users = users;
    }

    synchronized boolean isEmpty() {
        return users.isEmpty();
    }

    synchronized void create(String username, String password, Role role) {
        if (users.containsKey(username)) {
            throw ApiError.conflict("user_exists", "there is already a user named \"" + username + "\"");
        }
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        users.put(username, new JsonObject().put("role", role.wire()).put("salt", b64(salt))
                .put("hash", b64(hash(password, salt, ITERATIONS))).put("iterations", ITERATIONS).put("createdAt", Instant.now().toString()));
    }

    /** Sets a password; every session of the user ends but {@code keepToken}'s (the one asking). */
    synchronized void setPassword(String username, String password, String keepToken) {
        JsonObject u = require(username);
        byte[] salt = new byte[16];
        RANDOM.nextBytes(salt);
        u.put("salt", b64(salt)).put("hash", b64(hash(password, salt, ITERATIONS))).put("iterations", ITERATIONS);
        sessions.values().removeIf(s -> s.username().equals(username) && !s.token().equals(keepToken));
    }

    synchronized void delete(String username) {
        JsonObject u = require(username);
        if (Role.of(u.getString("role")) == Role.ADMIN && users.stream()
                .filter(e -> "admin".equals(((JsonObject) e.getValue()).getString("role"))).count() == 1) {
            throw ApiError.conflict("last_admin", "\"" + username + "\" is the last admin; create another admin first");
        }
        users.remove(username);
        sessions.values().removeIf(s -> s.username().equals(username));
    }

    synchronized JsonArray list() {
        JsonArray out = new JsonArray();
        users.fieldNames().stream().sorted().forEach(name -> {
            JsonObject u = users.getJsonObject(name);
            out.add(new JsonObject().put("username", name).put("role", u.getString("role")).put("createdAt", u.getString("createdAt")));
        });
        return out;
    }

    synchronized boolean exists(String username) {
        return users.containsKey(username);
    }

    private JsonObject require(String username) {
        JsonObject u = users.getJsonObject(username);
        if (u == null) {
            throw ApiError.notFound("user_not_found", "there is no user named \"" + username + "\"");
        }
        return u;
    }

    /** A new session for a right name and password; the same answer, after the same work, for every wrong one. */
    Session login(String username, String password) {
        JsonObject u;
        synchronized (this) {
            u = users.getJsonObject(username);
            u = u == null ? null : u.copy();
        }
        byte[] salt = u == null ? new byte[16] : Base64.getDecoder().decode(u.getString("salt"));
        int iterations = u == null ? ITERATIONS : u.getInteger("iterations");
        byte[] computed = hash(password, salt, iterations);
        if (u == null || !MessageDigest.isEqual(computed, Base64.getDecoder().decode(u.getString("hash")))) {
            throw new ApiError(401, "bad_credentials", "the user name or the password is wrong");
        }
        byte[] token = new byte[32];
        RANDOM.nextBytes(token);
        Session s = new Session(Base64.getUrlEncoder().withoutPadding().encodeToString(token), username,
                Role.of(u.getString("role")), Instant.now().plus(SESSION_LENGTH));
        sessions.put(s.token(), s);
        return s;
    }

    /** The live session of a token, or null. */
    Session session(String token) {
        if (token == null) {
            return null;
        }
        Session s = sessions.get(token);
        if (s == null) {
            return null;
        }
        if (s.expiresAt().isBefore(Instant.now())) {
            sessions.remove(token);
            return null;
        }
        return s;
    }

    void logout(String token) {
        sessions.remove(token);
    }

    static String randomPassword() {
        byte[] b = new byte[15];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private static byte[] hash(String password, byte[] salt, int iterations) {
        try {
            PBEKeySpec spec = new PBEKeySpec(password.toCharArray(), salt, iterations, 256);
            return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA256 is missing from this JDK", e);
        }
    }

    private static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }
}
