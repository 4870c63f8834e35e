import { ConfigurationError } from './errors';

/** Reads a file (fs.readFileSync in use; a fake in tests). */
export type FileReader = (path: string) => Buffer;

/**
 * The file a setting names, read at start; a ConfigurationError naming the setting and the
 * path, never the content, when it cannot be.
 */
export function readSettingFile(setting: string, path: string, readFile: FileReader): Buffer {
  try {
    return readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigurationError(`${setting}: ${path} cannot be read (${reason})`);
  }
}

/** The file the environment variable `name` names, read; undefined when it is unset or empty. */
export function readEnvFile(env: NodeJS.ProcessEnv, name: string, readFile: FileReader): Buffer | undefined {
  const path = env[name];
  return path ? readSettingFile(name, path, readFile) : undefined;
}

/** A password file's content: the password, without the newline `echo` ends it with. */
export function passwordText(setting: string, path: string, content: Buffer): string {
  const password = content.toString('utf8').replace(/\r?\n$/, '');
  if (!password) throw new ConfigurationError(`${setting}: ${path} is empty`);
  return password;
}
