-- wrk script: POST an Alertmanager delivery of ALERTS alerts (each a new firing, so a new incident),
-- as Alertmanager groups them; figure 1b.
local counter = 0
local threads = {}
local per_delivery = tonumber(os.getenv("BENCH_ALERTS") or "100")

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix = string.format("b%d%d", os.time(), id)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local alerts = {}
  for i = 1, per_delivery do
    counter = counter + 1
    alerts[i] = string.format(
      '{"status": "firing", "labels": {"alertname": "DiskAlmostFull", "category": "security", ' ..
      '"confidence": "0.95", "created_by": "U012ABCDEF", "instance": "web1:9100", "severity": "critical"}, ' ..
      '"annotations": {"summary": "Disk almost full"}, "startsAt": "2026-11-27T07:45:00Z", ' ..
      '"endsAt": "0001-01-01T00:00:00Z", "fingerprint": "%s%x"}', prefix, counter)
  end
  local body = '{"version": "4", "groupKey": "{}:{alertname=\\"DiskAlmostFull\\"}", "status": "firing", ' ..
    '"receiver": "autoresolve", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, ' ..
    '"externalURL": "http://alertmanager:9093", "alerts": [' .. table.concat(alerts, ",") .. ']}'
  return wrk.format(nil, nil, nil, body)
end

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "report.lua")
