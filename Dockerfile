# The vvolgate appliance image.
#
#   docker build -t vvolgate .
#   docker run --rm --network host -v vvolgate-var:/var/lib/vvolgate vvolgate
#
# With no config the appliance serves its embedded default (see the README): one subsystem whose namespace
# is the thin 1 GiB volume "demo" of a storage container mirrored over two sparse 2 GiB images under
# /var/lib/vvolgate/var, NVMe/TCP on 127.0.0.1:4420, discovery on 127.0.0.1:8009, the API and console on
# 127.0.0.1:8080. To serve other hosts, mount a config that listens on the host's address:
#   docker run --rm --network host -v $PWD/vvolgate.toml:/etc/vvolgate.toml:ro \
#       -v vvolgate-var:/var/lib/vvolgate vvolgate serve --config /etc/vvolgate.toml
#
# Three stages. The web console is built by Node.js (Vite 7 needs 20.19 or newer), which the Maven image
# does not have, so a Node image builds it into the control module's classes folder, and the Maven stage
# packages it with -Dvvolgate.console.skip=true (the files are already in place).

FROM node:22-bookworm-slim AS console
WORKDIR /src/control/console
COPY control/console/package.json control/console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY control/console ./
# vite.config.js writes to ../target/classes/io/vvolgate/control/console
RUN npm run build

FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
COPY pom.xml ./
COPY native native
COPY bindings bindings
COPY gateway gateway
COPY firmware-profiles firmware-profiles
COPY control control
COPY hil-tests/pom.xml hil-tests/pom.xml
COPY --from=console /src/control/target/classes/io/vvolgate/control/console control/target/classes/io/vvolgate/control/console
RUN mvn -B -q -DskipTests -Dvvolgate.console.skip=true -pl control -am package \
 && mkdir -p /out/lib \
 && cp control/target/vvolgate-control-*.jar /out/lib/ \
 && tr ':' '\n' < control/target/classpath.txt | xargs -I{} cp {} /out/lib/

FROM eclipse-temurin:25-jre
COPY --from=build /out/lib /opt/vvolgate/lib
WORKDIR /var/lib/vvolgate
VOLUME /var/lib/vvolgate
EXPOSE 4420 8009 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["java", "--enable-native-access=ALL-UNNAMED", "-cp", "/opt/vvolgate/lib/*", "io.vvolgate.control.Main"]
CMD ["serve"]
