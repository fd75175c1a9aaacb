-- POST one V2 inference request, the same bytes every time, and print a JSON summary at the end.
-- The body comes from the file named by BENCH_BODY (written by bench/run.py), so every server
-- gets exactly the same request; the path is the one in wrk's URL.
local body_path = os.getenv("BENCH_BODY")
if body_path == nil then
  error("set BENCH_BODY to the file holding the V2 request body")
end
local f = assert(io.open(body_path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
-- BENCH_HEADER_LENGTH: the body is a binary tensor extension request whose JSON is that long.
local header_length = os.getenv("BENCH_HEADER_LENGTH")
if header_length ~= nil then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = header_length
end

-- done() runs once after the run; the harness reads the last line of stdout that starts with
-- BENCH_JSON. Latencies are in microseconds. errors.status counts responses with status > 399.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"non_2xx": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
