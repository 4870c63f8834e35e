/** Exits once what was written to stdout and stderr has reached the pipe (a pipe may lag). */
export function exitAfterOutput(code: number): void {
  let pending = 2;
  const done = () => --pending === 0 && process.exit(code);
  process.stdout.write('', done);
  process.stderr.write('', done);
}
