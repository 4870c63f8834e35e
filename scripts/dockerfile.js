#!/usr/bin/env node
/* global process */
/**
 * The parsing half of scripts/docker-build-check.sh (which does the executing):
 *
 *   node scripts/dockerfile.js plan Dockerfile      the Dockerfile's steps as calls of that script's
 *                                                   df_* functions, one a line, every argument quoted
 *   node scripts/dockerfile.js context DIR DEST     copies to DEST what `docker build DIR` would send:
 *                                                   DIR minus what DIR/.dockerignore excludes
 *
 * Instructions are read as Docker reads them (continuation lines, comments, JSON and shell
 * forms, ENV/ARG substitution); what cannot be replayed without an engine (a heredoc, ADD of a
 * URL, FROM an earlier stage) is an error, not a silent skip.
 */
const fs = require('node:fs');
const path = require('node:path');

class DockerfileError extends Error {}

/** Single-quotes a word for bash. */
const quote = (word) => `'${String(word).replace(/'/g, `'\\''`)}'`;

/** Logical instructions with the line each starts on: continuations joined, comments dropped. */
function instructions(text) {
  const out = [];
  let pending = null;
  text.split(/\r?\n/).forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (pending && trimmed === '')) return;
    if (!pending && trimmed === '') return;
    const continues = /\\\s*$/.test(raw);
    const piece = continues ? raw.replace(/\\\s*$/, '') : raw;
    if (pending) pending.text += piece;
    else pending = { line: index + 1, text: piece.trimStart() };
    if (!continues) {
      out.push(pending);
      pending = null;
    }
  });
  if (pending) out.push(pending);
  return out.map(({ line, text }) => {
    const match = /^(\S+)\s*(.*)$/s.exec(text.trim());
    return { line, keyword: match[1].toUpperCase(), rest: match[2].trim(), source: text.trim() };
  });
}

/** `["a", "b"]` (exec form) as a list, or null for the shell form. */
function jsonForm(rest) {
  if (!rest.startsWith('[')) return null;
  try {
    const parsed = JSON.parse(rest);
    if (Array.isArray(parsed) && parsed.every((item) => typeof item === 'string')) return parsed;
  } catch {
    // Docker treats an unparsable [ … ] as the shell form too.
  }
  return null;
}

/** Words split as Docker splits COPY/ENV arguments: whitespace, with quotes and backslashes. */
function words(text) {
  const out = [];
  let current = '';
  let quoteChar = null;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoteChar) {
      if (c === quoteChar) quoteChar = null;
      else if (c === '\\' && quoteChar === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quoteChar = c;
      started = true;
    } else if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) out.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (quoteChar) throw new DockerfileError(`unterminated ${quoteChar} in: ${text}`);
  if (started) out.push(current);
  return out;
}

/** `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alternative}` from the stage's ENV and ARG. */
function substitute(text, variables) {
  return text.replace(
    /\\\$|\$\{([A-Za-z_]\w*)(?::([-+])([^}]*))?\}|\$([A-Za-z_]\w*)/g,
    (all, braced, op, word, bare) => {
      if (all === '\\$') return '$';
      const value = variables.get(braced ?? bare);
      if (op === '-') return value ? value : word;
      if (op === '+') return value ? word : '';
      return value ?? '';
    },
  );
}

/** Leading `--name=value` flags of COPY/ADD/RUN, and the words after them. */
function flags(list) {
  const found = new Map();
  let i = 0;
  for (; i < list.length && list[i].startsWith('--'); i++) {
    const [name, ...value] = list[i].slice(2).split('=');
    found.set(name, value.join('='));
  }
  return { flags: found, rest: list.slice(i) };
}

/** KEY=VALUE pairs of ENV/ARG (or ENV's old `KEY VALUE` form). */
function assignments(keyword, rest, variables) {
  const list = words(substitute(rest, variables));
  if (keyword === 'ENV' && list.length >= 2 && !list[0].includes('=')) {
    const value = rest.slice(rest.indexOf(list[0]) + list[0].length).trim();
    return [[list[0], substitute(value, variables)]];
  }
  return list.map((item) => {
    const at = item.indexOf('=');
    return at < 0 ? [item, undefined] : [item.slice(0, at), item.slice(at + 1)];
  });
}

/** Exec form as it is, shell form as `/bin/sh -c TEXT` (what Docker runs for it). */
const commandWords = (rest) => jsonForm(rest) ?? ['/bin/sh', '-c', rest];

const IGNORED = new Set([
  'USER',
  'EXPOSE',
  'LABEL',
  'VOLUME',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
  'ONBUILD',
  'MAINTAINER',
]);

/** The Dockerfile as df_* calls. */
function plan(file) {
  const out = [];
  const emit = (...parts) => out.push(parts.map(quote).join(' '));
  const stages = [];
  let variables = new Map();
  const globalArgs = new Map();
  for (const { line, keyword, rest, source } of instructions(fs.readFileSync(file, 'utf8'))) {
    const fail = (message) => {
      throw new DockerfileError(`${file}:${line}: ${message}`);
    };
    if (/<<-?\s*["']?\w+/.test(rest) && ['RUN', 'COPY', 'ADD'].includes(keyword)) {
      fail(`${keyword} with a heredoc is not replayed by this check`);
    }
    emit('df_at', line, source);
    if (keyword !== 'FROM' && keyword !== 'ARG' && stages.length === 0) fail(`${keyword} before FROM`);
    switch (keyword) {
      case 'FROM': {
        const list = flags(words(substitute(rest, globalArgs))).rest;
        const image = list[0];
        const name = list.length >= 3 && list[1].toUpperCase() === 'AS' ? list[2] : '';
        if (!image) fail('FROM without an image');
        if (stages.includes(image))
          fail(`FROM ${image}: building on an earlier stage is not replayed by this check`);
        stages.push(name || String(stages.length));
        variables = new Map(globalArgs);
        emit('df_stage', stages.length - 1, name, image);
        break;
      }
      case 'ARG':
      case 'ENV':
        for (const [key, value] of assignments(keyword, rest, variables)) {
          if (stages.length === 0) {
            globalArgs.set(key, value ?? '');
            continue;
          }
          const resolved = value ?? variables.get(key) ?? '';
          variables.set(key, resolved);
          // An ARG is in RUN's environment while the stage builds; an ENV stays in the image.
          emit(keyword === 'ENV' ? 'df_env' : 'df_arg', key, resolved);
        }
        break;
      case 'WORKDIR':
        emit('df_workdir', substitute(rest, variables));
        break;
      case 'COPY':
      case 'ADD': {
        const json = jsonForm(rest);
        const parsed = flags(json ?? words(substitute(rest, variables)));
        const from = parsed.flags.get('from') ?? '';
        const earlierStage =
          stages.includes(from) || (/^\d+$/.test(from) && Number(from) < stages.length - 1);
        if (from && !earlierStage) {
          fail(`${keyword} --from=${from}: only earlier stages of this Dockerfile are replayed, not images`);
        }
        if (parsed.rest.length < 2) fail(`${keyword} needs a source and a destination`);
        const sources = parsed.rest.slice(0, -1);
        if (
          keyword === 'ADD' &&
          sources.some((s) => /^[a-z]+:\/\//.test(s) || /\.(tar|tgz|tar\.\w+)$/.test(s))
        ) {
          fail('ADD of a URL or an archive is not replayed by this check; prefer COPY');
        }
        emit('df_copy', from, parsed.rest[parsed.rest.length - 1], ...sources);
        break;
      }
      case 'RUN': {
        const json = jsonForm(rest);
        if (json) emit('df_run_exec', ...json);
        // RUN's own flags (--mount, --network) change nothing here.
        else emit('df_run', rest.replace(/^(?:--\S+\s+)+/, ''));
        break;
      }
      case 'ENTRYPOINT':
        emit('df_entrypoint', ...commandWords(rest));
        break;
      case 'CMD':
        emit('df_cmd', ...commandWords(rest));
        break;
      default:
        if (!IGNORED.has(keyword)) fail(`unknown instruction ${keyword}`);
        emit('df_note', keyword);
    }
  }
  if (stages.length === 0) throw new DockerfileError(`${file}: no FROM`);
  return out.join('\n') + '\n';
}

/** A .dockerignore pattern as a regular expression over slash-separated context paths. */
function patternRegExp(pattern) {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` is any number of directories, `**` at the end anything at all.
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        source += '(?:.*/)?';
      } else source += '.*';
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) source += '\\[';
      else {
        source += `[${pattern
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) source += `\\${pattern[++i]}`;
    else source += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** .dockerignore's rules, in order: later rules win, `!` re-includes. */
function ignoreRules(contextDir) {
  const file = path.join(contextDir, '.dockerignore');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const exception = line.startsWith('!');
      const cleaned = path.posix.normalize(
        line
          .slice(exception ? 1 : 0)
          .trim()
          .replace(/^\/+/, ''),
      );
      return {
        exception,
        pattern: cleaned.replace(/\/+$/, ''),
        regexp: patternRegExp(cleaned.replace(/\/+$/, '')),
      };
    });
}

/** Whether a rule matches the path or one of its parent directories (as Docker's matcher does). */
function ruleMatches(rule, relative) {
  const parts = relative.split('/');
  for (let n = parts.length; n >= 1; n--) if (rule.regexp.test(parts.slice(0, n).join('/'))) return true;
  return false;
}

const excluded = (rules, relative) =>
  rules.reduce((result, rule) => (ruleMatches(rule, relative) ? !rule.exception : result), false);

/** An excluded directory is still walked when an exception might re-include something inside it. */
const mayReinclude = (rules, dir) =>
  rules.some(
    (rule) =>
      rule.exception && (rule.pattern.startsWith(`${dir}/`) || /[*?[]/.test(rule.pattern.split('/')[0])),
  );

/** Copies what `docker build contextDir` would send into dest; returns the number of files. */
function copyContext(contextDir, dest) {
  const rules = ignoreRules(contextDir);
  let count = 0;
  const walk = (relative) => {
    for (const entry of fs.readdirSync(path.join(contextDir, relative), { withFileTypes: true })) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      const out = excluded(rules, child);
      if (entry.isDirectory()) {
        if (!out || mayReinclude(rules, child)) walk(child);
      } else if (!out) {
        fs.mkdirSync(path.join(dest, relative), { recursive: true });
        fs.cpSync(path.join(contextDir, child), path.join(dest, child), { verbatimSymlinks: true });
        count++;
      }
    }
  };
  fs.mkdirSync(dest, { recursive: true });
  walk('');
  return count;
}

function main(argv) {
  const [command, ...args] = argv;
  try {
    if (command === 'plan' && args.length === 1) {
      process.stdout.write(plan(args[0]));
    } else if (command === 'context' && args.length === 2) {
      const count = copyContext(args[0], args[1]);
      process.stdout.write(`${count} files in the build context\n`);
    } else {
      process.stderr.write('usage: dockerfile.js plan DOCKERFILE | context DIR DEST\n');
      return 2;
    }
    return 0;
  } catch (error) {
    if (!(error instanceof DockerfileError)) throw error;
    process.stderr.write(`docker-build-check: ${error.message}\n`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));

module.exports = { plan, copyContext, patternRegExp, instructions, words };
