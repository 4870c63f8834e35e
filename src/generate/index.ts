export { defaultInstanceCount, generateNotifications } from './generator';
export type { GenerateOptions, GeneratedNotification } from './generator';
export { defaultTemplateDir, loadTemplates, TemplateError } from './templates';
export type { OperationTemplate, TemplateSet } from './templates';
export { pyDatetime } from './pytime';
export { Random } from './random';
