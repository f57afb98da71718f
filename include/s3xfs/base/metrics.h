// Prometheus metrics: a registry of counters, gauges and histograms, each a family of series
// told apart by label values, rendered in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
//   metrics::Registry& r = metrics::Global();
//   metrics::Counter& puts = r.Counters("s3xfs_x_total", "Things done.", {"kind"}).With({"put"});
//   puts.Inc();                                   // hot path: one relaxed atomic add
//   auto reg = r.Gauges("s3xfs_y", "Now.").Bind({}, [&] { return double(thing.size()); });
//   std::string text = r.Render();                // what GET /metrics returns
//
// Families are created on first use and live as long as the registry; asking again for a name
// returns the same family (asking with another type, help, label names or buckets is a
// programming error and aborts). Series (children) are created at zero on first With() and live
// as long as the registry too, so references may be cached: With() takes a lock, Inc/Set/Observe
// never do.
//
// Values read at scrape time come from callbacks: Bind() attaches one to a label set of a gauge
// or counter family, OnCollect() runs a hook before each scrape (to read one status and Set
// several gauges). Both return a Registration that removes the callback when destroyed, and
// destroying it waits for a scrape in progress, so a callback never outlives what it reads.
// Callbacks run on the scraping thread, one scrape at a time; they must not destroy
// Registrations (deadlock), and should be quick (they delay the scrape, not the hot path).
//
// Thread-safety: everything may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace s3xfs::metrics {

// A monotonically increasing integer (requests, bytes).
class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d) { v_.fetch_add(d, std::memory_order_relaxed); }
  double Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Observations counted in fixed buckets (upper bounds, inclusive: `le`), with their sum and
// count. Observe is lock-free: one bucket increment and one sum update.
class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds (+Inf is implicit). Must outlive this.
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  // Counts are read bucket by bucket: under concurrent Observe calls a snapshot may miss the
  // newest observations, but its buckets are cumulative and its count is their total.
  Snapshot Read() const;

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_->size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 0.5 ms to 60 s.
const std::vector<double>& LatencyBuckets();

// Removes a callback when destroyed (waiting for a scrape that may be running it). Movable.
class Registration {
 public:
  Registration() = default;
  explicit Registration(std::function<void()> remove) : remove_(std::move(remove)) {}
  Registration(Registration&& o) noexcept : remove_(std::move(o.remove_)) { o.remove_ = nullptr; }
  Registration& operator=(Registration&& o) noexcept;
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() { Reset(); }
  void Reset();

 private:
  std::function<void()> remove_;
};

class Registry;

enum class Type { kCounter, kGauge, kHistogram };

// The series of one metric name. With() values are given in the order of the label names.
template <typename M>
class Family {
 public:
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The series with these label values, created at zero on first use. Aborts when the number
  // of values differs from the number of label names. Takes a lock: cache the reference.
  M& With(std::initializer_list<std::string_view> values);
  M& With(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }

 private:
  friend class Registry;
  Family(Registry* registry, std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds)
      : registry_(registry), name_(std::move(name)), help_(std::move(help)),
        labels_(std::move(labels)), bounds_(std::move(bounds)) {}
  M& Child(std::vector<std::string> values);

  Registry* registry_;
  const std::string name_, help_;
  const std::vector<std::string> labels_;
  const std::vector<double> bounds_;  // histograms only
  mutable std::shared_mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;  // GUARDED_BY(mu_)
  // Callback series (gauges and counters): label values -> fn. GUARDED_BY(Registry::scrape_mu_)
  std::map<std::vector<std::string>, std::function<double()>> callbacks_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  // Get-or-create. Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
  // (not starting with "__"; "le" is reserved for histograms); anything else aborts.
  // Counter names should end in _total (the exposition prints them as given).
  CounterFamily& Counters(std::string_view name, std::string_view help,
                          std::vector<std::string> labels = {});
  GaugeFamily& Gauges(std::string_view name, std::string_view help,
                      std::vector<std::string> labels = {});
  HistogramFamily& Histograms(std::string_view name, std::string_view help,
                              std::vector<std::string> labels,
                              const std::vector<double>& bounds = LatencyBuckets());

  // A series of a gauge (or counter) family whose value `fn` computes at scrape time. Binding
  // a label set that already has a callback replaces it. A stored series with the same labels
  // is shadowed by the callback.
  [[nodiscard]] Registration Bind(GaugeFamily& family, std::vector<std::string> values,
                                  std::function<double()> fn);
  [[nodiscard]] Registration Bind(CounterFamily& family, std::vector<std::string> values,
                                  std::function<double()> fn);
  // Runs before every scrape, in registration order.
  [[nodiscard]] Registration OnCollect(std::function<void()> fn);

  // The text exposition (format 0.0.4) of every family, in name order; series in label order.
  // Families without series print their HELP and TYPE only.
  std::string Render();

 private:
  template <typename M> friend class Family;
  struct Entry {
    Type type;
    void* family;  // Family<M>* for the type
  };
  void* FindOrAdd(std::string_view name, std::string_view help, Type type,
                  std::vector<std::string>& labels, const std::vector<double>* bounds);
  template <typename M>
  Registration BindImpl(Family<M>& family, std::vector<std::string> values,
                        std::function<double()> fn);

  std::mutex mu_;  // families_ (lookups and inserts)
  std::map<std::string, Entry, std::less<>> families_;  // GUARDED_BY(mu_)
  std::vector<std::unique_ptr<CounterFamily>> counters_;  // owners
  std::vector<std::unique_ptr<GaugeFamily>> gauges_;
  std::vector<std::unique_ptr<HistogramFamily>> histograms_;
  // Held for a whole scrape and while callbacks are added or removed.
  std::mutex scrape_mu_;
  uint64_t next_hook_ = 0;                             // GUARDED_BY(scrape_mu_)
  std::map<uint64_t, std::function<void()>> hooks_;   // GUARDED_BY(scrape_mu_)
};

// The process's registry (what the daemons serve at /metrics). Never destroyed, so references
// to its series stay valid during static destruction.
Registry& Global();

// Exposition-format helpers (exposed for tests).
std::string EscapeLabelValue(std::string_view v);  // \ " and newline escaped
std::string EscapeHelp(std::string_view v);        // \ and newline escaped
std::string FormatValue(double v);  // shortest round-trip, %g style (0.0005); NaN, +Inf, -Inf

}  // namespace s3xfs::metrics
