-- wrk script: POST a new incident (unique id) on every request; the body is the seed's incident shape.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = string.format("B%d-%d", os.time(), id)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if os.getenv("BENCH_TOKEN") then
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
  end
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"incident_id": "%s-%d", "title": "Disk almost full", "category": "security", "priority": "high", ' ..
    '"confidence_score": 0.95, "created_by": "U012ABCDEF", "service": "web", "labels": {"host": "web1"}}',
    prefix, counter)
  return wrk.format(nil, nil, nil, body)
end

-- the summary line: shared with report.lua, next to this file
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "report.lua")
