import { Command } from 'commander';
import { reportFor } from '../../src/cli/errors';

export interface InProcessRun {
  code: number;
  /** stdout, split into its non-empty lines as they are written. */
  lines: string[];
  stdout: string;
  stderr: string;
}

/**
 * Runs one `winchester` command in this process, as main() would: an error becomes one
 * `winchester: …` line and its exit code. `whileRunning` sees stdout's lines grow (for a
 * command that runs until it is stopped).
 */
export async function runInProcess(
  register: (program: Command) => void,
  args: string[],
  whileRunning?: (lines: string[]) => Promise<void>,
): Promise<InProcessRun> {
  const program = new Command('winchester').exitOverride();
  register(program);
  const written: string[] = [];
  const lines: string[] = [];
  const stderr: string[] = [];
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
  process.exitCode = undefined;
  let code: number;
  try {
    const running = program.parseAsync(args, { from: 'user' });
    await whileRunning?.(lines);
    await running;
    code = Number(process.exitCode ?? 0);
  } catch (error) {
    const report = reportFor(error);
    stderr.push(`winchester: ${report.message}\n`);
    code = report.exitCode;
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
  return { code, lines, stdout: written.join(''), stderr: stderr.join('') };
}
