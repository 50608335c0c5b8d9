# The vvolgate appliance image.
#
#   docker build -t vvolgate .
#   docker run --rm --network host -v vvolgate-var:/var/lib/vvolgate vvolgate
#
# With no config the appliance serves its embedded default: one subsystem with a 1 GiB file namespace
# under /var/lib/vvolgate/var, NVMe/TCP on 127.0.0.1:4420 and discovery on 127.0.0.1:8009. To serve
# other hosts, mount a config that listens on the host's address:
#   docker run --rm --network host -v $PWD/vvolgate.toml:/etc/vvolgate.toml:ro \
#       -v vvolgate-var:/var/lib/vvolgate vvolgate serve --config /etc/vvolgate.toml

FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
COPY pom.xml ./
COPY native native
COPY bindings bindings
COPY gateway gateway
COPY firmware-profiles firmware-profiles
COPY control control
COPY hil-tests/pom.xml hil-tests/pom.xml
RUN mvn -B -q -DskipTests -pl control -am package \
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
