-- What the benchmark's wrk scripts share: reading the tokens file, a distinct random
-- sequence per thread, and the one result line `python -m bench` parses.
local common = {}

local threads = {}

function common.setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

-- In each thread's init: without this, every thread would draw the same "random" posts.
function common.seed()
  math.randomseed(os.time() * 100 + thread_number)
end

function common.read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  return lines
end

-- One line of key=value pairs; latencies in microseconds. `non2xx` is wrk's count of
-- responses with a status of 400 or more; `status_<code>` appear when a script counted them.
function common.report(summary, latency, requests)
  local errors = summary.errors
  local parts = {
    string.format("requests=%d", summary.requests),
    string.format("duration_us=%d", summary.duration),
    string.format("p50_us=%d", latency:percentile(50)),
    string.format("p90_us=%d", latency:percentile(90)),
    string.format("p99_us=%d", latency:percentile(99)),
    string.format("max_us=%d", latency.max),
    string.format("non2xx=%d", errors.status),
    string.format("socket_errors=%d", errors.connect + errors.read + errors.write + errors.timeout),
  }
  local statuses = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      statuses[status] = (statuses[status] or 0) + count
    end
  end
  for status, count in pairs(statuses) do
    parts[#parts + 1] = string.format("status_%d=%d", status, count)
  end
  io.write("BENCH_RESULT " .. table.concat(parts, " ") .. "\n")
end

return common
