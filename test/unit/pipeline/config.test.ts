import { builtinHandlers } from '../../../src/pipeline/handlers';
import { parsePipelines, PipelineConfigError } from '../../../src/pipeline/config';
import { ConfigurationError } from '../../../src/config/errors';

const handlers = new Map(Object.entries(builtinHandlers));

describe('pipelines.yaml at start', () => {
  test('loads names and {name, params} entries', () => {
    const pipelines = parsePipelines(
      'audit:\n  - logger\n  - name: usage\n    params: {}\nempty: []\n',
      'p.yaml',
      handlers,
    );
    expect(pipelines.get('audit')).toEqual([
      { name: 'logger', params: {} },
      { name: 'usage', params: {} },
    ]);
    expect(pipelines.get('empty')).toEqual([]);
  });

  test.each([
    ['audit:\n  - logger\n  - name: nosuch\n', /^p\.yaml:3: pipeline 'audit': unknown handler 'nosuch'/],
    ['audit:\n  - logger\n  - params: {}\n', /^p\.yaml:3: pipeline 'audit': handler 2 has no name/],
    ['audit: logger\n', /^p\.yaml:1: pipeline 'audit': expected a list of handlers/],
    ['audit:\n  - name: atompub\n    params: {}\n', /^p\.yaml:3: pipeline 'audit': handler 'atompub': /],
    ['audit: [logger\n', /^p\.yaml:\d+: not valid YAML/],
  ])('%j fails at start with file and line', (text, expected) => {
    let error: unknown;
    try {
      parsePipelines(text, 'p.yaml', handlers);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PipelineConfigError);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(expected);
  });
});
