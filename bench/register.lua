-- wrk script for bench/registration.py: each request registers a new citizen with a
-- phone and an email no other request uses. Arguments: <csrf cookie> <csrf form token>.
local counter = 0
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  cookie = args[1]
  token = args[2]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = "csrftoken=" .. cookie
  wrk.headers["Referer"] = "http://127.0.0.1/"
end

function request()
  counter = counter + 1
  local n = string.format("%d%06d", tid, counter)
  local body = "csrfmiddlewaretoken=" .. token
    .. "&contact-full_name=Load+Test+" .. n
    .. "&contact-phone=%2B9377" .. n
    .. "&contact-email=load" .. n .. "%40bench.example"
    .. "&contact-preferred_language=en"
    .. "&contact-emergency_contact_name=&contact-emergency_contact_phone="
    .. "&contact-consent=on"
    .. "&presence-country=AF&presence-region=AF-KAB&presence-city=Kabul&presence-lives_here=on"
    .. "&presence-arrival_date=&presence-departure_date=&presence-latitude=&presence-longitude="
    .. "&household-TOTAL_FORMS=0&household-INITIAL_FORMS=0&household-MIN_NUM_FORMS=0&household-MAX_NUM_FORMS=20"
    .. "&action=register"
  return wrk.format(nil, "/", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx_3xx": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "timeouts": %d, "p50_ms": %.1f, "p95_ms": %.1f, "p99_ms": %.1f, "max_ms": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
