-- wrk script: POST request bodies from BODIES (one JSON body per line),
-- each connection walking the pool from its own offset, so consecutive
-- requests carry different graphs; at the end a JSON summary to SUMMARY.
local bodies = {}
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    table.insert(bodies, line)
  end
  i = id * 7919
  non2xx = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])
end

function response(status, headers, body)
  if status ~= 200 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
  end
  local e = summary.errors
  local f = io.open(os.getenv("SUMMARY"), "w")
  f:write(string.format(
    '{"requests": %d, "duration_s": %.3f, "throughput_rps": %.1f, "non_2xx": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_ms": {"p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f, "mean": %.3f}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), bad,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3, latency.mean / 1e3))
  f:close()
end
