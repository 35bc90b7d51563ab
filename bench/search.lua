-- wrk script: POST /v1/ins/search (ADRTROIS DOMINIQUE F 1997-02-26 2A020) with the API key
-- from the environment (GATEWAY_APP_KEY); counts statuses; optional per-thread request cap:
--   wrk -t1 -c16 -d60s --timeout 10s -s bench/search.lua URL -- <max requests per thread>
-- With BENCH_PORTS="p1,p2" (replicas of the gateway), wrk thread i connects to port
-- i mod n of 127.0.0.1: run as many wrk threads as ports (or a multiple).
-- With BENCH_PATH="/healthz", it sends GET BENCH_PATH instead (the HTTP front alone).
-- done() prints one line "BENCH_JSON {...}" that bench/harness/load.py reads.

wrk.method = "POST"
wrk.path = "/v1/ins/search"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("GATEWAY_APP_KEY") or "")
wrk.body = '{"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", '
  .. '"birth_date": "1997-02-26", "birth_place": "2A020"}'

local get_path = os.getenv("BENCH_PATH") or ""
if get_path ~= "" then
  wrk.method = "GET"
  wrk.path = get_path
  wrk.body = nil
  wrk.headers["Content-Type"] = nil
end

local threads = {}

local ports = {}
for port in string.gmatch(os.getenv("BENCH_PORTS") or "", "%d+") do
  table.insert(ports, port)
end

function setup(thread)
  table.insert(threads, thread)
  if #ports > 1 then
    thread.addr = wrk.lookup("127.0.0.1", ports[(#threads - 1) % #ports + 1])[1]
  end
end

function init(args)
  responses = 0
  non200 = 0
  status429 = 0
  limit = tonumber(args[1] or "0") or 0
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    non200 = non200 + 1
  end
  if status == 429 then
    status429 = status429 + 1
  end
  if limit > 0 and responses >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total, bad, limited = 0, 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("responses")
    bad = bad + thread:get("non200")
    limited = limited + thread:get("status429")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "responses": %d, "non200": %d, "status429": %d, '
      .. '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_status": %d, '
      .. '"errors_timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"mean_us": %.1f}\n',
    summary.requests, summary.duration, total, bad, limited,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
