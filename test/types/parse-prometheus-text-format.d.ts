/** Types for parse-prometheus-text-format 1.1 (it ships none): prom2json's output shape. */
declare module 'parse-prometheus-text-format' {
  export interface PromSample {
    /** counters, gauges, untyped */
    value?: string;
    labels?: Record<string, string>;
    /** histograms: upper bound → cumulative count */
    buckets?: Record<string, string>;
    /** summaries: quantile → value */
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export interface PromFamily {
    name: string;
    help: string;
    /** COUNTER, GAUGE, HISTOGRAM, SUMMARY, UNTYPED */
    type: string;
    metrics: PromSample[];
  }
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
