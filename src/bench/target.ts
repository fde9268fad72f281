// What a benchmark drives: one interface per system under test.
export interface BenchTarget {
  readonly name: string;
  get(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer): Promise<void>;
  del(key: string): Promise<void>;
  close(): Promise<void>;
}
