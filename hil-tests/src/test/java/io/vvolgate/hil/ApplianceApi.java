package io.vvolgate.hil;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The appliance's REST API as the rig drives it: a bearer-token session over {@link HttpClient}, JSON
 * bodies as Vert.x {@link JsonObject}s (Vert.x is on the class path through the control module). Every
 * exchange is kept as one line of text (method, path, request body, status, response body), so a failed
 * rig step can quote exactly what the control plane was asked and what it answered. Not thread-safe:
 * one thread drives it.
 */
final class ApplianceApi
{
    /** An answer with a status the caller did not expect; the message quotes the whole exchange. */
    static final class ApiException extends IOException
    {
        ApiException(final String message)
        {
            super(message);
        }
    }

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String baseUrl;
    private final List<String> transcript = new ArrayList<>();
    private String token;

    ApplianceApi(final String baseUrl)
    {
        this.baseUrl = baseUrl;
    }

    /** {@code POST /api/session}; later calls carry the token. */
    void login(final String username, final String password) throws IOException, InterruptedException
    {
        token = call("POST", "/api/session", new JsonObject().put("username", username).put("password", password), 200)
            .getString("token");
        if (token == null)
        {
            throw new ApiException("login answered without a token: " + lastExchange());
        }
    }

    JsonObject get(final String path) throws IOException, InterruptedException
    {
        return call("GET", path, null, 200);
    }

    /** GET of a path that answers a JSON array. */
    JsonArray getArray(final String path) throws IOException, InterruptedException
    {
        final HttpResponse<String> response = send("GET", path, null);
        expect(response, 200);
        try
        {
            return new JsonArray(response.body());
        }
        catch (final DecodeException e)
        {
            throw new ApiException("answer is not a JSON array: " + lastExchange());
        }
    }

    JsonObject post(final String path, final JsonObject body, final int expectedStatus) throws IOException, InterruptedException
    {
        return call("POST", path, body, expectedStatus);
    }

    /** Every exchange so far, one per line. */
    List<String> transcript()
    {
        return List.copyOf(transcript);
    }

    String lastExchange()
    {
        return transcript.isEmpty() ? "(no exchange)" : transcript.getLast();
    }

    private JsonObject call(final String method, final String path, final JsonObject body, final int expectedStatus)
        throws IOException, InterruptedException
    {
        final HttpResponse<String> response = send(method, path, body);
        expect(response, expectedStatus);
        final String text = response.body();
        if (text == null || text.isBlank())
        {
            return new JsonObject();
        }
        try
        {
            return new JsonObject(text);
        }
        catch (final DecodeException e)
        {
            throw new ApiException("answer is not a JSON object: " + lastExchange());
        }
    }

    private HttpResponse<String> send(final String method, final String path, final JsonObject body)
        throws IOException, InterruptedException
    {
        final HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(CALL_TIMEOUT);
        final String json = body == null ? null : body.encode();
        request.method(method, json == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json));
        if (json != null)
        {
            request.header("Content-Type", "application/json");
        }
        if (token != null)
        {
            request.header("Authorization", "Bearer " + token);
        }
        // The login body carries the admin password; keep it out of the transcript.
        final String shown = path.equals("/api/session") ? "{\"username\":\"admin\",\"password\":\"…\"}" : json;
        try
        {
            final HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            transcript.add(method + " " + path + (shown == null ? "" : " " + shown) + " -> " + response.statusCode() + " " + response.body());
            return response;
        }
        catch (final IOException e)
        {
            transcript.add(method + " " + path + (shown == null ? "" : " " + shown) + " -> " + e);
            throw e;
        }
    }

    private void expect(final HttpResponse<String> response, final int status) throws ApiException
    {
        if (response.statusCode() != status)
        {
            throw new ApiException("expected " + status + ": " + lastExchange());
        }
    }
}
