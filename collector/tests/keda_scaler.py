"""A KEDA external scaler client that nobody at sitepulse wrote: grpcio, with
stubs that grpcio-tools generated from collector/proto/externalscaler.proto
just before this runs. Driven by collector/tests/keda_scaler.rs, which
serves sitepulse's scaler on a loopback port over a real collector's data.

Usage: keda_scaler.py PORT STUBS_DIR LOG_PATH MORE_LINES_PATH

It calls every method as KEDA's own client does (pkg/scalers/
external_scaler.go in kedacore/keda: GetMetricSpec, GetMetrics with the
metric name, IsActive, StreamIsActive), checks the answers and error codes
it can check alone, and prints one JSON object with the values it read for
the Rust side to compare with the collector's numbers. Any failed check
exits non-zero with a message.
"""

import json
import sys
import time

import grpc

port, stubs, log_path, more_path = sys.argv[1:5]
sys.path.insert(0, stubs)
import externalscaler_pb2 as pb  # noqa: E402
import externalscaler_pb2_grpc as pb_grpc  # noqa: E402

channel = grpc.insecure_channel(f"127.0.0.1:{port}")
grpc.channel_ready_future(channel).result(timeout=10)
scaler = pb_grpc.ExternalScalerStub(channel)
out = {}


def check(cond, what):
    if not cond:
        sys.exit(f"keda_scaler.py: {what}")


def ref(**meta):
    return pb.ScaledObjectRef(name="shop", namespace="sites", scalerMetadata=meta)


def refused(call, req, code, needle):
    try:
        call(req, timeout=5)
    except grpc.RpcError as e:
        check(e.code() == code, f"{req}: {e.code()} {e.details()!r}, wanted {code}")
        check(needle in e.details(), f"{req}: {e.details()!r} does not name {needle!r}")
        return e.details()
    sys.exit(f"keda_scaler.py: {req} answered, wanted {code}")


# GetMetricSpec: one spec, float and (rounded up) int targets.
rps = ref(scalerAddress=f"127.0.0.1:{port}", site="shop.example.com", target="2.5")
spec = scaler.GetMetricSpec(rps, timeout=5)
check(len(spec.metricSpecs) == 1, f"{spec}")
s = spec.metricSpecs[0]
check(s.metricName == "shop-example-com-rps", f"{s}")
check((s.targetSize, s.targetSizeFloat) == (3, 2.5), f"{s}")

# GetMetrics: the site's total under the spec's name.
m = scaler.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=rps, metricName=s.metricName), timeout=5)
check(len(m.metricValues) == 1 and m.metricValues[0].metricName == s.metricName, f"{m}")
out["rps"] = m.metricValues[0].metricValueFloat
out["rps_int"] = m.metricValues[0].metricValue

err = ref(site="shop-example-com", metric="error_ratio", target="0.05", window="5m")
name = scaler.GetMetricSpec(err, timeout=5).metricSpecs[0].metricName
check(name == "shop-example-com-error-ratio-5m", name)
m = scaler.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=err, metricName=name), timeout=5)
out["error_ratio"] = m.metricValues[0].metricValueFloat
out["error_ratio_int"] = m.metricValues[0].metricValue

# KEDA resolves siteFromEnv and sends the value under the same key.
env = ref(siteFromEnv="shop-example-com", target="2.5")
m = scaler.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=env, metricName="shop-example-com-rps"), timeout=5)
out["rps_from_env"] = m.metricValues[0].metricValueFloat

# IsActive: value > activationThreshold.
out["active_at_0"] = scaler.IsActive(rps, timeout=5).result
out["active_at_1e6"] = scaler.IsActive(
    ref(site="shop-example-com", target="1", activationThreshold="1000000"), timeout=5
).result

# Errors: statuses with a message, never a 0.
C = grpc.StatusCode
out["errors"] = [
    refused(scaler.IsActive, ref(site="shop-example-com"), C.INVALID_ARGUMENT, "target"),
    refused(scaler.GetMetricSpec, ref(site="shop-example-com", target="1", metric="qps"),
            C.INVALID_ARGUMENT, "metric"),
    refused(scaler.GetMetrics, pb.GetMetricsRequest(scaledObjectRef=rps, metricName="s0-shop-example-com-rps"),
            C.INVALID_ARGUMENT, "shop-example-com-rps"),
    refused(scaler.GetMetrics,
            pb.GetMetricsRequest(scaledObjectRef=ref(site="nope-example-com", target="1"),
                                 metricName="nope-example-com-rps"),
            C.NOT_FOUND, "nope-example-com"),
    refused(scaler.GetMetrics,
            pb.GetMetricsRequest(scaledObjectRef=ref(site="shop-example-com", target="1", metric="fpm_queue"),
                                 metricName="shop-example-com-fpm-queue"),
            C.FAILED_PRECONDITION, "PHP-FPM"),
]
try:
    next(scaler.StreamMetricSpec(rps, timeout=5))
    sys.exit("keda_scaler.py: StreamMetricSpec answered")
except grpc.RpcError as e:
    check(e.code() == C.UNIMPLEMENTED, f"StreamMetricSpec: {e.code()}")

# StreamIsActive: the state at once, then the change the new lines make.
quiet = ref(site="quiet-example-com", target="10", activationThreshold="5")
t0 = time.monotonic()
stream = scaler.StreamIsActive(quiet, timeout=30)
first = next(stream)
out["stream_first"] = first.result
out["stream_first_secs"] = time.monotonic() - t0
with open(more_path, "rb") as src, open(log_path, "ab") as log:
    log.write(src.read())
t1 = time.monotonic()
second = next(stream)
out["stream_second"] = second.result
out["stream_change_secs"] = time.monotonic() - t1
stream.cancel()

print(json.dumps(out))
