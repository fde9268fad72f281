// Argument parsers for commander options that the project's programs share (jepsen, fuzz):
// a bad value becomes commander's own usage error, which its caller turns into exit 2.
import { InvalidArgumentError as CommanderArgumentError } from "commander";

/** A whole number in min..max, e.g. `--seed`, `--time`; anything else is a usage error. */
export function integerOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new CommanderArgumentError(`${name} must be an integer in ${min}..${max}`);
    }
    return parsed;
  };
}
